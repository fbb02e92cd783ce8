/* Declarations for the plain objects the core's reports become (keys in camelCase). */

/** What a key slot or key file holds (the core's `SlotState`). */
export type SlotState =
  | { state: 'erased' }
  | { state: 'reset-request' }
  | { state: 'valid'; bits: number }
  | { state: 'corrupt'; reason: string }

/** What `inspectKey` finds. */
export type KeyReport = SlotState & {
  kind?: 'private' | 'public'
  format?: string
  fingerprint?: string
  publicExponent?: string
  notes?: string[]
}

export type ServerAddress = { type: 'ipv4'; value: string } | { type: 'domain'; value: string }

/** A decoded server key block (DCT offset 2082). */
export interface ServerKeySummary {
  keyBits: number
  fingerprint: string
  address: ServerAddress
  port: number
  storedAddress: ServerAddress | null
  storedPort: number | null
}

/** A decoded DCT (what `duoprov dct show` prints). */
export interface DctReport {
  platform: string
  kind: 'image' | 'app'
  size: number
  currentPartition?: number
  partitions?: Array<Record<string, unknown>>
  bootloaderVersion: number
  deviceId: string | null
  devicePrivateKey: SlotState
  devicePublicKey:
    | { state: 'erased' }
    | { state: 'valid'; bits: number; fingerprint: string; matchesPrivateKey: boolean | null }
    | { state: 'corrupt'; reason: string }
  server: { state: string; [fact: string]: unknown }
  fields: Array<{ name: string; offset: number; size: number; kind: string; value?: unknown }>
  warnings: string[]
}

/** How the virtual Duo's cloud connection after boot ended (REFERENCE §5). */
export type ConnectOutcome =
  | { outcome: 'connected'; host: string; port: number; pings: number }
  | {
      outcome: 'rejected'
      host: string
      port: number
      step: 'connect' | 'nonce' | 'identity' | 'session-key' | 'signature' | 'hello' | 'keep-alive'
      reason: string
    }
  | { outcome: 'not_tried'; host: string; port: number; reason: string }

/** What the virtual Duo's firmware did at boot. */
export interface BootReport {
  slotFirstByte: number
  generatedKey: boolean
  fingerprint: string | null
  resetAfterKey: boolean
  publicKeyRewritten: boolean
  /** The cloud connection tried after the key rule; null when the boot did not get that far. */
  connection: ConnectOutcome | null
}

export interface VirtualDuoStatus {
  dir: string
  platform: string
  bootloader: string
  firmware: string | null
  mode: 'dfu' | 'firmware'
  connected: boolean
  deviceId: string
  timeFactor: number
  armedFaults: string[]
  firedFaults: string[]
  lastBoot: BootReport | null
  lastBootError: string | null
  serialPort: string | null
  stats: {
    controlTransfers: number
    pollTimeoutMsTotal: number
    dataBlocksDownloaded: number
    dataBlocksUploaded: number
    stalls: number
  }
}

/** A fault mode of the local cloud. */
export type CloudFault =
  | { kind: 'none' }
  | { kind: 'status'; status: number; body?: 'json' | 'html' | 'empty'; retryAfterSecs?: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'rate_limit'; after: number; retryAfterSecs: number }
  | { kind: 'drop' }
  | { kind: 'sequence'; steps: CloudFault[] }

/** A provisioning the local cloud accepted. */
export interface CloudRecord {
  deviceId: string
  publicKey: string
  productId: number | null
  order: string | null
  filename: string | null
  algorithm: string
  time: number
}

export interface CloudStats {
  requests: number
  provisioningRequests: number
  accepted: number
  rejected: number
  faulted: number
}

/** A rejected call: the core's error. `code` is stable; the other facts are set where they apply. */
export interface DuoError extends Error {
  code: string
  /** The next step, in this package's names. */
  remedy?: string
  status?: number
  retryAfter?: number
  deviceId?: string
  backupPath?: string
  dfuStep?: string
  dfuStatus?: string
  dfuState?: string
  path?: string
  restore?: string
  /** After an aborted key write or reset: what the key slot holds, whole ('old' or 'new'). */
  slot?: 'old' | 'new'
}

/** A board in DFU mode, as `listDevices` finds it. */
export interface ListedDevice {
  selector: string
  usbId: string
  vid: number
  pid: number
  version: string
  platform: string
  name: string
  serial: string | null
  altSettings: Array<{ alt: number; name: string }>
  virtual: boolean
}

/** What `writePrivateKey` did. */
export interface LoadReport {
  file: string
  bits: number
  fingerprint: string
  bytesWritten: number
  verified: boolean
  previous: SlotState
  backup: string
  backupKind: 'key' | 'raw-slot'
  notes: string[]
}

/** What `resetPrivateKey` did. */
export interface ResetReport {
  previous: SlotState
  backup: string | null
  backupKind: 'key' | 'raw-slot' | null
  bytesWritten: number
  verified: boolean
  leftDfu: boolean
  nextStep: string
}
