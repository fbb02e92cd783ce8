//! Every handshake and session message pinned against fixed keys
//! (`testdata/`, made once with `openssl genrsa`) and fixed randomness.

use rand_core::{CryptoRng, RngCore};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};

use super::coap::{self, CounterCheck, HelloPayload, Kind, MessageCounter};
use super::device::{self, DeviceCredentials, Step};
use super::handshake::*;
use super::session::{Channel, FrameReader};
use super::ProtocolError;
use crate::keys;

pub(crate) fn server_key() -> RsaPrivateKey {
    keys::parse_private_key(include_bytes!("testdata/server_key.pem")).unwrap()
}
pub(crate) fn device_key() -> RsaPrivateKey {
    keys::parse_private_key(include_bytes!("testdata/device_key.pem")).unwrap()
}
fn other_device_key() -> RsaPrivateKey {
    keys::parse_private_key(include_bytes!("testdata/other_device_key.pem")).unwrap()
}

/// Deterministic bytes (splitmix64): fixed randomness for RSA padding.
pub(crate) struct FixedRng(pub u64);
impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for FixedRng {}

const NONCE: [u8; 40] = {
    let mut n = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        n[i] = i as u8;
        i += 1;
    }
    n
};
const DEVICE_ID: [u8; 12] = [
    0x2f, 0xff, 0x27, 0xff, 0xfc, 0x47, 0x35, 0x30, 0xff, 0xf2, 0x36, 0x37,
];

fn credentials() -> Credentials {
    let mut bytes = [0u8; 40];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = 0xA0u8.wrapping_add(i as u8);
    }
    Credentials::from_bytes(&bytes)
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn identity_is_nonce_id_and_the_162_byte_spki_encrypted_to_the_server_key() {
    let device = device_key().to_public_key();
    let plain = identity_plaintext(&NONCE, &DEVICE_ID, &device).unwrap();
    assert_eq!(plain.len(), 214);
    assert_eq!(&plain[..40], &NONCE);
    assert_eq!(&plain[40..52], &DEVICE_ID);
    assert_eq!(plain[52..], keys::public_key_to_der(&device).unwrap()[..]);
    // The SPKI's fixed 29-byte header (REFERENCE §2) then the modulus.
    assert_eq!(hex::encode(&plain[52..81]), IDENTITY_SPKI_HEADER);

    let server = server_key();
    let message = encrypt_identity(
        &server.to_public_key(),
        &NONCE,
        &DEVICE_ID,
        &device,
        &mut FixedRng(1),
    )
    .unwrap();
    assert_eq!(message.len(), 256);
    assert_eq!(sha256(&message), IDENTITY_SHA256);
    // Type 2 padding: the server's raw decryption shows 00 02 … 00 plaintext.
    assert_eq!(server.decrypt(Pkcs1v15Encrypt, &message).unwrap(), plain);

    let identity = decrypt_identity(&server, &NONCE, &message).unwrap();
    assert_eq!(identity.device_id, DEVICE_ID);
    assert_eq!(identity.device_id_hex(), "2fff27fffc473530fff23637");
    assert_eq!(identity.public_key, device);
    assert_eq!(identity.public_key_der.len(), 162);
}

const IDENTITY_SPKI_HEADER: &str = "30819f300d06092a864886f70d010101050003818d0030818902818100";
const IDENTITY_SHA256: &str = "f6a0420e8380877fd9850243d1a2f82f1573784c40807f8b8eb6fb5c21c1512f";

#[test]
fn identity_under_another_server_key_or_nonce_is_refused() {
    let device = device_key().to_public_key();
    let server = server_key();
    let message = encrypt_identity(
        &server.to_public_key(),
        &NONCE,
        &DEVICE_ID,
        &device,
        &mut FixedRng(2),
    )
    .unwrap();
    let mut other_nonce = NONCE;
    other_nonce[0] ^= 1;
    assert_eq!(
        decrypt_identity(&server, &other_nonce, &message),
        Err(ProtocolError::NonceMismatch)
    );
    assert!(matches!(
        decrypt_identity(&server, &NONCE, &message[..255]),
        Err(ProtocolError::Length {
            expected: 256,
            got: 255,
            ..
        })
    ));
    // Encrypted to an RSA-2048 key the server does not have.
    let stranger = RsaPrivateKey::new(&mut FixedRng(3), 2048).unwrap();
    let message = encrypt_identity(
        &stranger.to_public_key(),
        &NONCE,
        &DEVICE_ID,
        &device,
        &mut FixedRng(4),
    )
    .unwrap();
    assert!(matches!(
        decrypt_identity(&server, &NONCE, &message),
        Err(ProtocolError::IdentityDecrypt | ProtocolError::NonceMismatch)
    ));
}

#[test]
fn a_device_key_that_is_not_rsa_1024_is_refused_before_sending() {
    let big = server_key().to_public_key();
    assert!(matches!(
        identity_plaintext(&NONCE, &DEVICE_ID, &big),
        Err(ProtocolError::DevicePublicKey { .. })
    ));
}

#[test]
fn credentials_are_key_iv_salt_encrypted_to_the_held_key_then_hmac_and_raw_type1_signature() {
    let creds = credentials();
    let bytes = creds.to_bytes();
    assert_eq!(&bytes[..16], &creds.aes_key);
    assert_eq!(&bytes[16..32], &creds.iv);
    assert_eq!(&bytes[32..], &creds.salt);
    assert_eq!(creds.aes_key[0], 0xA0);
    assert_eq!(creds.iv[0], 0xB0);
    assert_eq!(creds.salt, [0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7]);

    let server = server_key();
    let device = device_key();
    let reply =
        seal_credentials(&server, &device.to_public_key(), &creds, &mut FixedRng(5)).unwrap();
    assert_eq!(reply.len(), 384);
    let (ciphertext, signature) = reply.split_at(128);
    assert_eq!(sha256(ciphertext), CREDENTIALS_CIPHERTEXT_SHA256);
    assert_eq!(device.decrypt(Pkcs1v15Encrypt, ciphertext).unwrap(), bytes);

    let mac = hmac_sha1(&bytes, ciphertext);
    assert_eq!(hex::encode(mac), CREDENTIALS_HMAC);
    // Type 1 over the raw 20 bytes: 00 01 FF… 00 then the HMAC, no DigestInfo.
    let raw = rsa::BigUint::from_bytes_be(signature)
        .modpow(
            &rsa::BigUint::from(65537u32),
            rsa::traits::PublicKeyParts::n(&server),
        )
        .to_bytes_be();
    assert_eq!(raw.len(), 255, "leading 00 dropped by the big integer");
    assert_eq!(raw[0], 0x01);
    assert!(raw[1..234].iter().all(|&b| b == 0xFF));
    assert_eq!(raw[234], 0x00);
    assert_eq!(&raw[235..], &mac);
    assert_eq!(
        recover_raw(&server.to_public_key(), signature).unwrap(),
        mac
    );
    // Deterministic; the same bytes as `openssl rsautl -sign` (RSA_private_encrypt).
    assert_eq!(sha256(signature), SIGNATURE_SHA256);
    // A standard SHA-1 signature (with DigestInfo) is not what the device checks.
    use rsa::Pkcs1v15Sign;
    let sha1_digest_info = Pkcs1v15Sign {
        hash_len: Some(20),
        prefix: hex::decode("3021300906052b0e03021a05000414")
            .unwrap()
            .into(),
    };
    let standard = server.sign(sha1_digest_info, &mac).unwrap();
    assert_ne!(standard, signature);
    assert_ne!(
        recover_raw(&server.to_public_key(), &standard).unwrap(),
        mac
    );

    let opened = open_credentials(&device, &server.to_public_key(), &reply).unwrap();
    assert_eq!(opened, creds);
}

const CREDENTIALS_CIPHERTEXT_SHA256: &str =
    "c2c4f5fa6b753c6b15e0177f546d5881ef63948897ab1fbb78d603a95f1df0cc";
const CREDENTIALS_HMAC: &str = "c1c2ef6d17844f18cf947fc90c9f8c98ea1e4570";
const SIGNATURE_SHA256: &str = "7116ee2cff0f98c52f74f9a56154a795d2ced3c1335bbd8aa89c08c481e0df66";

#[test]
fn credentials_for_another_device_key_fail_to_decrypt_and_another_server_key_fails_the_signature() {
    let server = server_key();
    let reply = seal_credentials(
        &server,
        &other_device_key().to_public_key(),
        &credentials(),
        &mut FixedRng(6),
    )
    .unwrap();
    let err = open_credentials(&device_key(), &server.to_public_key(), &reply).unwrap_err();
    assert!(
        matches!(err, ProtocolError::CredentialsDecrypt | ProtocolError::Hmac),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("the cloud holds a different public key for this device"));

    let reply = seal_credentials(
        &server,
        &device_key().to_public_key(),
        &credentials(),
        &mut FixedRng(7),
    )
    .unwrap();
    let stranger = RsaPrivateKey::new(&mut FixedRng(8), 2048).unwrap();
    let err = open_credentials(&device_key(), &stranger.to_public_key(), &reply).unwrap_err();
    assert_eq!(err, ProtocolError::Signature);
    assert_eq!(
        err.to_string(),
        "server signature does not verify with the server key in the DCT"
    );

    let mut tampered = reply.clone();
    tampered[300] ^= 1;
    assert_eq!(
        open_credentials(&device_key(), &server.to_public_key(), &tampered),
        Err(ProtocolError::Signature)
    );
}

#[test]
fn frames_are_length_then_cbc_with_pkcs7_and_the_iv_chains_from_the_first_block() {
    let creds = credentials();
    let mut tx = Channel::new(&creds);
    assert_eq!(tx.iv(), creds.iv);
    let hello = coap::device_hello(0xC0C2, &duo_hello());
    assert_eq!(hello.len(), 15);
    let frame = tx.seal(&hello);
    assert_eq!(
        hex::encode(&frame[..2]),
        "0010",
        "15 bytes pad to one block"
    );
    assert_eq!(hex::encode(&frame), FRAME_1);
    // Cross-checked with `openssl enc -aes-128-cbc -K a0…af -iv b0…bf`, and
    // the second frame with `-iv` = the first frame's first block.
    // The next IV is the first 16 ciphertext bytes of that message.
    assert_eq!(tx.iv()[..], frame[2..18]);

    // A 16-byte message gets a whole extra block of padding.
    let aligned = [0x42u8; 16];
    let frame2 = tx.seal(&aligned);
    assert_eq!(hex::encode(&frame2[..2]), "0020");
    assert_eq!(hex::encode(&frame2), FRAME_2);
    assert_eq!(tx.iv()[..], frame2[2..18]);

    // The receiver follows the same chain; each message is its own CBC run.
    let mut rx = Channel::new(&creds);
    let mut reader = FrameReader::new();
    let mut stream = frame.clone();
    stream.extend(&frame2);
    reader.push(&stream[..7]);
    assert_eq!(reader.next_frame().unwrap(), None);
    reader.push(&stream[7..]);
    let first = reader.next_frame().unwrap().unwrap();
    let second = reader.next_frame().unwrap().unwrap();
    assert_eq!(reader.next_frame().unwrap(), None);
    assert_eq!(rx.open(&first).unwrap(), hello);
    assert_eq!(rx.open(&second).unwrap(), aligned);

    // Out of order (a receiver on the wrong IV) fails or garbles.
    let mut rx = Channel::new(&creds);
    assert_ne!(rx.open(&second).ok(), Some(aligned.to_vec()));
}

const FRAME_1: &str = "001097a3679e6a932793f2e8fc9fa1fa10b9";
const FRAME_2: &str = "00209c5f17c1db7bdce1cff97e1bdaf922e32d5edd755ceb570e515120b127938c9f";

#[test]
fn frame_lengths_that_no_message_has_are_refused() {
    let mut reader = FrameReader::new();
    reader.push(&[0x00, 0x11]);
    assert!(matches!(
        reader.next_frame(),
        Err(ProtocolError::Frame { len: 17, .. })
    ));
    let mut reader = FrameReader::new();
    reader.push(&[0x00, 0x00]);
    assert!(reader.next_frame().is_err());
    let mut reader = FrameReader::new();
    reader.push(&[0x10, 0x00]);
    assert!(reader.next_frame().is_err());
}

fn duo_hello() -> HelloPayload {
    HelloPayload {
        product_id: 88,
        firmware_version: 3,
        flags: 0,
        platform_id: 88,
    }
}

#[test]
fn hello_ping_and_ack_layouts() {
    assert_eq!(
        hex::encode(coap::device_hello(0x1234, &duo_hello())),
        "50021234b168ff0058000300000058"
    );
    assert_eq!(
        hex::encode(coap::server_hello(0xabcd, 0x07)),
        "5102abcd07b168"
    );
    assert_eq!(hex::encode(coap::ping(0x0102)), "40000102");
    assert_eq!(hex::encode(coap::empty_ack(0x0102)), "60000102");

    let hello = coap::parse(&coap::device_hello(0x1234, &duo_hello())).unwrap();
    assert_eq!(hello.kind, Kind::NonConfirmable);
    assert!(coap::is_hello(&hello));
    assert_eq!(hello.token, b"");
    assert_eq!(hello.payload, [0, 88, 0, 3, 0, 0, 0, 88]);
    let server = coap::parse(&coap::server_hello(1, 9)).unwrap();
    assert!(coap::is_hello(&server));
    assert_eq!(server.token, [9]);
    // The device reads the path byte at offset 5 + token length.
    assert_eq!(coap::server_hello(1, 9)[5 + 1], b'h');
    assert!(coap::device_decodes(&server));
    let ack = coap::parse(&coap::empty_ack(5)).unwrap();
    assert_eq!((ack.kind, ack.message_id), (Kind::Ack, 5));
    assert!(coap::device_decodes(&ack));
    // An ACK with 4.00 Bad Request is not something the device decodes.
    assert!(!coap::device_decodes(
        &coap::parse(&[0x60, 0x80, 0, 5]).unwrap()
    ));
    assert!(coap::parse(&[0x80, 0, 0, 0]).is_err());
}

#[test]
fn the_counter_starts_at_the_salt_and_the_server_adopts_the_hello_then_wants_plus_one() {
    let creds = credentials();
    let mut counter = MessageCounter::from_salt(&creds.salt);
    assert_eq!(
        counter.next_id(),
        0xC0C2,
        "salt c0 c1 → hello carries 0xc0c1 + 1"
    );
    assert_eq!(counter.next_id(), 0xC0C3);
    assert_eq!(coap::token_base(&creds.salt), 0xC2);
    let mut wrap = MessageCounter::from_salt(&[0xFF, 0xFF, 0, 0, 0, 0, 0, 0]);
    assert_eq!(wrap.next_id(), 0);

    let mut check = CounterCheck::default();
    let msg = |kind_byte: u8, id: u16| {
        let b = id.to_be_bytes();
        coap::parse(&[kind_byte, 0, b[0], b[1]]).unwrap()
    };
    check.check(&msg(0x50, 0xC0C2)).unwrap();
    check.check(&msg(0x60, 0x0001)).unwrap(); // ACKs are not counted
    check.check(&msg(0x40, 0xC0C3)).unwrap();
    assert_eq!(
        check.check(&msg(0x40, 0xC0C9)),
        Err(ProtocolError::BadCounter {
            expected: 0xC0C4,
            got: 0xC0C9
        })
    );
}

/// An in-memory stream: reads from `input`, writes to `output`.
#[derive(Debug)]
struct Script {
    input: std::io::Cursor<Vec<u8>>,
    output: Vec<u8>,
}
impl std::io::Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}
impl std::io::Write for Script {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_device_side_runs_steps_1_to_5_and_the_hello_over_a_scripted_server() {
    let server = server_key();
    let device = DeviceCredentials {
        device_id: DEVICE_ID,
        device_key: device_key(),
        server_key: server.to_public_key(),
        hello: duo_hello(),
    };
    let creds = credentials();
    let mut input = NONCE.to_vec();
    input.extend(
        seal_credentials(
            &server,
            &device.device_key.to_public_key(),
            &creds,
            &mut FixedRng(9),
        )
        .unwrap(),
    );
    let mut server_tx = Channel::new(&creds);
    input.extend(server_tx.seal(&coap::server_hello(0xC0C2, 0xC2)));
    input.extend(server_tx.seal(&coap::empty_ack(0xC0C3)));
    let script = Script {
        input: std::io::Cursor::new(input),
        output: Vec::new(),
    };
    let mut session = device::connect(script, &device, &mut FixedRng(10)).unwrap();
    session.ping().unwrap();
    let out = session.into_inner().output;
    let identity = decrypt_identity(&server, &NONCE, &out[..256]).unwrap();
    assert_eq!(identity.device_id, DEVICE_ID);
    let mut rx = Channel::new(&creds);
    let mut reader = FrameReader::new();
    reader.push(&out[256..]);
    let hello = coap::parse(&rx.open(&reader.next_frame().unwrap().unwrap()).unwrap()).unwrap();
    assert_eq!(hello.message_id, 0xC0C2);
    let ping = coap::parse(&rx.open(&reader.next_frame().unwrap().unwrap()).unwrap()).unwrap();
    assert_eq!((ping.kind, ping.message_id), (Kind::Confirmable, 0xC0C3));

    // A server that closes after the identity: rejected at that step.
    let script = Script {
        input: std::io::Cursor::new(NONCE.to_vec()),
        output: Vec::new(),
    };
    let err = device::connect(script, &device, &mut FixedRng(11)).unwrap_err();
    assert_eq!(err.step, Step::Identity);
    assert!(err.reason.contains("closed the connection"), "{err}");
}
