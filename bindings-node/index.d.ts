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

/** An open board in DFU mode. */
export declare class Device {
  /** How the board is reached, e.g. `RedBear Duo (virtual, sim:/tmp/d)`. */
  get description(): string
  /**
   * Read the device key slot into memory (no file is written): the
   * slot's state, the key as PKCS#1 DER when it holds one, and the raw slot.
   */
  readPrivateKey(): Promise<PrivateKeyRead>
  /**
   * Write a private key into the slot: a Buffer (DER or PEM, PKCS#1 or
   * PKCS#8) or a key file path. The key is checked first, the current slot
   * kept as a verified backup (`backup_rsa_NAME.der`, see `backupDir`),
   * the new one read back and compared; on any failure or abort the
   * previous slot is put back. Resolves with the core's `LoadReport`.
   */
  writePrivateKey(key: Buffer | string, options?: WriteKeyOptions | undefined | null): Promise<LoadReport>
  /**
   * Have the firmware make a new key: the reset request is written over
   * the slot (the replaced key kept as a verified backup first) and, unless
   * `leave: false`, the board leaves DFU mode.
   */
  resetPrivateKey(options?: ResetOptions | undefined | null): Promise<ResetReport>
  /**
   * Write a server key block (see `formatServerKey`) at DCT offset 2082
   * and read it back; resolves with its `ServerKeySummary`.
   */
  writeServerKey(block: Buffer): Promise<ServerKeySummary>
  /** Read and decode the DCT (the core's `DctReport`). */
  readDct(): Promise<DctReport>
  /**
   * Let the board go (a virtual Duo can then boot). Closing twice is
   * harmless; closing during a call (e.g. from `onProgress`) lets the
   * board go when that call ends, without blocking the JS thread.
   */
  close(): void
}

/** The local cloud: the Particle provisioning API on loopback. */
export declare class LocalCloud {
  /** Start serving; resolves once it listens. */
  static start(options?: LocalCloudStartOptions | undefined | null): LocalCloud
  /** `http://127.0.0.1:PORT`: the `apiUrl` to provision against. */
  get url(): string
  /**
   * `127.0.0.1:PORT`: where the device endpoint (REFERENCE §5, TCP)
   * listens, the address a virtual Duo connects to after `boot()`.
   */
  get deviceAddr(): string
  /**
   * The server key block for DCT offset 2082 that points a device at
   * this cloud (its RSA-2048 public key, `deviceAddr`'s IPv4 address and
   * port): `(await openDevice(duo.selector)).writeServerKey(block)`. The
   * server key is made on first use.
   */
  serverKeyBlock(): Buffer
  /**
   * Set the fault mode, e.g. `{ kind: 'status', status: 503 }`,
   * `{ kind: 'delay', ms: 100 }`, `{ kind: 'drop' }`; `{ kind: 'none' }` clears.
   */
  setFault(fault: CloudFault): void
  /** Accept one more token. */
  addToken(token: string): void
  /** Seed more devices (initial provisioning); returns how many were new. */
  addDevices(ids: Array<string>): number
  /** The PEM public key the cloud holds for a device, if any. */
  publicKey(deviceId: string): string | null
  /** Every accepted provisioning, oldest first. */
  records(): CloudRecord[]
  /** Request counters. */
  stats(): CloudStats
  /**
   * Stop serving (requests in flight get a short grace); resolves when
   * the server thread has ended. Stopping twice is harmless.
   */
  stop(): Promise<void>
}

/**
 * A virtual RedBear Duo in a directory: its DFU bootloader, DCT and the
 * firmware's key rule at boot.
 */
export declare class VirtualDuo {
  /** Make a new device in `dir` (absent or empty), in DFU mode. */
  static create(dir: string, options?: VirtualDuoOptions | undefined | null): VirtualDuo
  /** Open a device made before (by this or another process). */
  static open(dir: string): VirtualDuo
  /** The device selector for `openDevice`: `sim:DIR`. */
  get selector(): string
  get dir(): string
  /** The MCU's device id, 24 hex digits. */
  get deviceId(): string
  /**
   * Leave DFU mode and run the firmware's key rule (a factory device
   * generates its key), then its cloud connection to the server its DCT
   * names (REFERENCE §5). Resolves with the boot report
   * `{ slotFirstByte, generatedKey, fingerprint, connection }`, where
   * `connection.outcome` is `connected`, `rejected` (with the `step`) or
   * `not_tried` (a server that is not loopback, e.g. the factory
   * `device.spark.io`). Close any device opened on it first.
   */
  boot(): Promise<BootReport>
  /** Enter DFU mode (the buttons dance), reconnecting a vanished device. */
  enterDfu(): void
  /**
   * What the device is doing: `{ mode, connected, deviceId, timeFactor,
   * armedFaults, firedFaults, lastBoot, stats, … }`.
   */
  status(): VirtualDuoStatus
  /**
   * Arm a one-shot fault, in the CLI's spelling: `stall:N`,
   * `write-error:N`, `address-error:N`, `vanish:BYTES`, `stuck-busy[:N]`,
   * `short-status:N[:LEN]`.
   */
  armFault(spec: string): void
  /** Disarm every fault. */
  clearFaults(): void
}

/** The result for one device. */
export interface BatchDeviceResult {
  /** 1-based position in `items`. */
  line: number
  deviceId: string
  ok: boolean
  attempts: number
  latencyMs: number
  fingerprint: string
  error?: string
  /** The error's code, as on a rejected `provision`. */
  code?: string
}

/** One device of a batch: its id, and optionally the key file to send. */
export interface BatchItem {
  deviceId: string
  /** A key file path; default: the generic key. */
  publicKey?: string
}

/** Totals of a batch, with every device's result in arrival order. */
export interface BatchSummary {
  total: number
  ok: number
  failed: number
  /**
   * Devices not provisioned because `signal` aborted the batch (never
   * sent, or dropped before the cloud answered); their results have code
   * `CANCELLED`. `ok + failed + cancelled === total`.
   */
  cancelled: number
  /** Requests made, retries included. */
  attempts: number
  concurrency: number
  elapsedSecs: number
  ratePerSec: number
  p50Ms: number
  p99Ms: number
  results: Array<BatchDeviceResult>
}

/** An account of the local cloud: its tokens act for it. */
export interface CloudAccount {
  name: string
  tokens: Array<string>
  /** Tokens past their lifetime: 401 "has expired". */
  expiredTokens?: Array<string>
}

/** A device that had its initial provisioning, with its owner and product. */
export interface CloudDevice {
  deviceId: string
  /** Default: the default account (the one `tokens` act for). */
  account?: string
  /** Default 88. */
  productId?: number
}

export interface DctOptions {
  /** `duo` (default), `photon` or `p1`. */
  platform?: string
}

/** RedBear's factory DCT image (32 KiB), e.g. for `VirtualDuo.create(dir, { fromDct })`. */
export declare function factoryDct(): Buffer

/**
 * Build the server key block for DCT offset 2082 from a public key (PEM or
 * DER bytes, or a file path), with an optional host and port.
 */
export declare function formatServerKey(key: Buffer | string, options?: ServerKeyOptions | undefined | null): Buffer

/** A new device key (RSA-1024, e = 65537, as the firmware makes them). */
export interface GeneratedKey {
  /** PKCS#1 DER: what particle-cli's `.der` files and the key slot hold. */
  der: Buffer
  /** The same key as PKCS#1 PEM. */
  pem: string
  /** Its public half, PEM SubjectPublicKeyInfo (what the cloud is sent). */
  publicPem: string
  /** Lower-case hex SHA-256 of the public key's SPKI DER. */
  fingerprint: string
  bits: number
}

/** Make a new device key. */
export declare function generateKey(): GeneratedKey

/**
 * What a key file, key bytes or key slot dump holds (the core's
 * `KeyReport`): `{ kind, state, bits, format, fingerprint, … }`. A string is
 * read as a file path.
 */
export declare function inspectKey(key: Buffer | string): KeyReport

/**
 * The boards in DFU mode (`{ selector, usbId, platform, serial, altSettings, … }`);
 * with a selector, only those it designates. Rejects with `NO_DEVICE` when
 * there is none.
 */
export declare function listDevices(selector?: string | undefined | null): Promise<ListedDevice[]>

export interface LocalCloudStartOptions {
  /** Access tokens of the default account. */
  tokens?: Array<string>
  /** Accounts with their tokens; another account's token gets 403 for a device. */
  accounts?: Array<CloudAccount>
  /**
   * Devices that had their initial provisioning (others get 403): an id
   * (the default account's, product 88) or `{ deviceId, account, productId }`.
   */
  devices?: Array<string | CloudDevice>
  /** A fault to start with, e.g. `{ kind: 'status', status: 500, body: 'html' }`. */
  faults?: CloudFault
  /** Where to listen (default `127.0.0.1:0`, a free port). */
  addr?: string
}

/**
 * Open a board in DFU mode: `usb:BUS-PORT`, `usb:VID:PID`, `serial:STRING`,
 * `sim:DIR` (a virtual Duo), or none for the one board on USB.
 */
export declare function openDevice(selector?: string | undefined | null): Promise<Device>

/**
 * Decode a DCT — a 32 KiB DCT image or an alt-1 dump — into the core's
 * `DctReport`: every field, the key slots classified, the server block.
 */
export declare function parseDct(dct: Buffer, options?: DctOptions | undefined | null): DctReport

/**
 * Decode a server key block (`ServerKeySummary`): key size and fingerprint,
 * the address and port the firmware will use, and what is stored.
 */
export declare function parseServerKey(block: Buffer): ServerKeySummary

export interface PrivateKeyRead {
  /** What the slot holds (`state`: erased, reset-request, valid, corrupt). */
  report: KeyReport
  /** The key as PKCS#1 DER, when the slot holds a valid key. */
  der?: Buffer
  /** The whole 1216-byte slot as read. */
  slot: Buffer
}

/** A progress event as JS sees it (the core's `ProgressEvent`). */
export interface Progress {
  /** `read`, `backup`, `erase`, `write`, `verify`, `restore`, `reset`, `provision`. */
  phase: string
  done: number
  total: number
  /** `bytes` or `devices`. */
  unit: string
}

/**
 * Send a device's public key to the cloud. Resolves with the confirmed
 * provisioning; rejects with an `Error` whose `code` is e.g.
 * `INVALID_TOKEN`, `PERMISSION_DENIED`, `RATE_LIMITED`, `SERVER_ERROR`.
 */
export declare function provision(deviceId: string, token?: string | undefined | null, options?: ProvisionOptions | undefined | null): Promise<ProvisionResult>

/**
 * Provision many devices concurrently. Resolves with the summary (also when
 * some devices failed: see `failed` and each result's `code`; and when
 * `signal` aborted the batch under way: `cancelled` counts the devices not
 * done); rejects only when nothing could be sent (bad id, key file, token
 * or URL; `CANCELLED` when `signal` had fired before the call).
 */
export declare function provisionMany(items: Array<string | BatchItem>, token?: string | undefined | null, options?: ProvisionManyOptions | undefined | null): Promise<BatchSummary>

export interface ProvisionManyOptions {
  /** Requests in flight at once (default 32). */
  concurrency?: number
  productId?: number
  apiUrl?: string
  timeoutMs?: number
  retries?: number
  /** Called with each device's result as it arrives. */
  onResult?: ((arg: BatchDeviceResult) => void)
  /** Called as devices finish: `{ phase: 'provision', done, total, unit: 'devices' }`. */
  onProgress?: (progress: Progress) => void
  /**
   * Stops the batch: no new request is sent, and the call resolves with
   * the summary so far (`cancelled` counts the devices not done).
   */
  signal?: AbortSignal
}

/** How to reach the cloud; every field is optional. */
export interface ProvisionOptions {
  /** Default 88, the Duo's product id. */
  productId?: number
  /**
   * The key to send: PEM text, PEM/DER bytes, or a key file path (a
   * private key's public half is sent). Default: RedBear's generic key.
   */
  publicKey?: string | Buffer
  /**
   * Default: `PARTICLE_API_URL`, particle-cli's `apiUrl`, then
   * `https://api.particle.io`. Plain `http://` only to loopback.
   */
  apiUrl?: string
  /** Bound on one request, in milliseconds (default 30000). */
  timeoutMs?: number
  /**
   * Retries after the first attempt for 429 / 502 / 503 / 504 / network
   * errors (default 3).
   */
  retries?: number
  /** Aborts the call: it rejects with code `CANCELLED`. */
  signal?: AbortSignal
}

/** A confirmed provisioning. Never holds the token. */
export interface ProvisionResult {
  deviceId: string
  /** SHA-256 (hex) of the public key the cloud now holds for the device. */
  fingerprint: string
  productId: number
  /** Requests it took, including the successful one. */
  attempts: number
  /** The `order` field sent. */
  order: string
  /** `{ kind: 'generic' | 'file' | 'pem-text', path? }`. */
  keySource: { kind: string; path?: string }
  /** Where the token came from: `{ kind: 'flag' | 'env' | 'particle-config', name?, path? }`. */
  tokenOrigin: { kind: string; name?: string; path?: string }
  apiUrl: string
  apiUrlOrigin: { kind: string; name?: string; path?: string }
  /** The cloud's JSON reply. */
  response: any
}

/** How `resetPrivateKey` works. */
export interface ResetOptions {
  /**
   * Where to keep the replaced key (`backup_rsa_reset.der`); default the
   * working directory.
   */
  backupDir?: string
  /** Leave DFU mode so the firmware makes a new key (default true). */
  leave?: boolean
  onProgress?: (progress: Progress) => void
  signal?: AbortSignal
}

export interface ServerKeyOptions {
  /** Domain name or dotted IPv4 address the device connects to. */
  host?: string
  port?: number
}

export interface VirtualDuoOptions {
  /** A 32 KiB DCT image to start from (default: RedBear's factory image). */
  fromDct?: Buffer
  /** 24 hex digits (default: random). */
  deviceId?: string
  /** Scale of the device's declared busy times (1 = a real Duo; default 1). */
  timeFactor?: number
  /** `duo` (default), `photon` or `p1`. */
  platform?: string
}

/** How `writePrivateKey` works: where the backup goes, progress, abort. */
export interface WriteKeyOptions {
  /**
   * Where to keep the replaced key (`backup_rsa_NAME.der`). Default:
   * beside the key file for a path, the working directory for a Buffer.
   */
  backupDir?: string
  /**
   * Called with each `{ phase, done, total, unit }` of the work
   * (`backup`, `write`, `verify`, `restore`); the work waits for it.
   */
  onProgress?: (progress: Progress) => void
  /**
   * Aborts the write where the slot holds one whole key: the call rejects
   * with code `CANCELLED`, `backupPath` and which key the slot holds.
   */
  signal?: AbortSignal
}
