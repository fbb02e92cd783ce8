//! Device key generation: RSA-1024, e = 65537 (REFERENCE §3 "Keys"), as fast
//! as `openssl genrsa 1024`.
//!
//! Where the time goes, measured: a 1024-bit key is two 512-bit prime
//! searches; everything else (modulus, private exponent, CRT values, the
//! key's own validation, encoding) is well under a millisecond. The rsa
//! crate's search (num-bigint-dig's `gen_prime`) sieves candidates by the
//! primes up to 53 only, so about 50 candidates per prime reach a modular
//! exponentiation, and it then runs 21 Miller–Rabin rounds and a Lucas test
//! on the prime it keeps, all on a general-purpose big-number type. Here:
//!
//! - **Sieve**: candidates are stepped from a random start and sieved by the
//!   first 2048 primes (up to 17863) with word-sized residues
//!   (`crypto_primes::hazmat::Sieve`), so about 20 candidates per prime reach
//!   the first exponentiation, which rejects almost every composite.
//! - **Fixed-width arithmetic**: 512-bit Montgomery arithmetic on eight
//!   64-bit limbs (`crypto-bigint`'s `U512`), constant-time, so the search's
//!   timing does not depend on the secret prime's bits.
//! - **Rounds**: a base-2 Miller–Rabin round and a strong Lucas test (the
//!   Baillie–PSW test, with no known counterexample), then
//!   [`RANDOM_BASE_ROUNDS`] Miller–Rabin rounds with random bases: FIPS 186-4
//!   Appendix C.3, Table C.3, asks 7 random-base rounds of a 512-bit prime
//!   for an error probability of 2⁻¹⁰⁰ without a Lucas test, so this meets
//!   that figure on its own and adds Baillie–PSW on top.
//! - **Both primes at once**: `p` and `q` are searched on two threads.
//!
//! Each prime also has its top two bits set (so `n` has exactly 1024 bits and
//! `p, q > √2 · 2⁵¹¹`, FIPS 186-4 B.3.1), `gcd(p − 1, e) = 1`, and
//! `|p − q| > 2⁴¹²` (B.3.1 step 5.4). The private exponent is
//! `e⁻¹ mod lcm(p − 1, q − 1)`, as openssl makes it, and the key passes
//! `openssl rsa -check` (checked in the tests when openssl is installed).

use crypto_bigint::{Encoding, Random, U512};
use crypto_primes::hazmat::{lucas_test, AStarBase, LucasCheck, MillerRabin, Primality, Sieve};
use rand_core::{CryptoRngCore, OsRng};
use rsa::{BigUint, RsaPrivateKey};

use super::{KeyError, DEVICE_KEY_BITS, DEVICE_KEY_EXPONENT};

/// Bits of each of the two primes.
const PRIME_BITS: usize = DEVICE_KEY_BITS / 2;

/// Random-base Miller–Rabin rounds on each prime kept, after Baillie–PSW:
/// FIPS 186-4 Table C.3's count for 512-bit primes at 2⁻¹⁰⁰ (M-R only).
pub const RANDOM_BASE_ROUNDS: usize = 7;

/// A fresh device key: RSA-1024, e = 65537, as the firmware generates at boot.
pub fn generate() -> Result<RsaPrivateKey, KeyError> {
    let (p, q) = std::thread::scope(|scope| {
        // The second prime on its own thread; if no thread can be started,
        // both on this one.
        let other = std::thread::Builder::new()
            .name("rsa-prime".into())
            .spawn_scoped(scope, || random_prime(&mut OsRng));
        let p = random_prime(&mut OsRng);
        let q = match other {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => random_prime(&mut OsRng),
        };
        (p, q)
    });
    key_from_primes(p, q, &mut OsRng)
}

/// The key made of `p` and `q`; draws a new `q` while the pair is too close
/// (FIPS 186-4 B.3.1: `|p − q| > 2^(nlen/2 − 100)`), which a random pair
/// essentially never is.
pub(crate) fn key_from_primes(
    p: BigUint,
    mut q: BigUint,
    rng: &mut impl CryptoRngCore,
) -> Result<RsaPrivateKey, KeyError> {
    let min_distance = BigUint::from(1u32) << (PRIME_BITS - 100);
    while distance(&p, &q) <= min_distance {
        q = random_prime(rng);
    }
    RsaPrivateKey::from_p_q(p, q, BigUint::from(DEVICE_KEY_EXPONENT)).map_err(KeyError::Generate)
}

fn distance(a: &BigUint, b: &BigUint) -> BigUint {
    if a > b {
        a - b
    } else {
        b - a
    }
}

/// A random 512-bit probable prime with its top two bits set and
/// `gcd(p − 1, 65537) = 1`.
pub(crate) fn random_prime(rng: &mut impl CryptoRngCore) -> BigUint {
    let e = BigUint::from(DEVICE_KEY_EXPONENT);
    loop {
        let start = U512::random(rng) | (U512::from_u8(0b11) << (PRIME_BITS - 2)) | U512::ONE;
        // Steps through odd numbers from `start`, skipping multiples of the
        // first 2048 primes, until the next would need a 513th bit.
        for candidate in Sieve::new(&start, PRIME_BITS, false) {
            if !is_probable_prime(&candidate, rng) {
                continue;
            }
            let prime = BigUint::from_bytes_be(&candidate.to_be_bytes());
            // e is prime, so gcd(p − 1, e) = 1 unless e divides p − 1.
            if &prime % &e != BigUint::from(1u32) {
                return prime;
            }
        }
    }
}

/// Baillie–PSW (Miller–Rabin base 2, strong Lucas) then
/// [`RANDOM_BASE_ROUNDS`] random-base Miller–Rabin rounds. `candidate` is
/// odd and far above the sieve's primes.
pub(crate) fn is_probable_prime(candidate: &U512, rng: &mut impl CryptoRngCore) -> bool {
    let mr = MillerRabin::new(candidate);
    // Almost every composite the sieve lets through fails here, at the cost
    // of one exponentiation.
    if !mr.test_base_two().is_probably_prime() {
        return false;
    }
    if lucas_test(candidate, AStarBase, LucasCheck::Strong) == Primality::Composite {
        return false;
    }
    (0..RANDOM_BASE_ROUNDS).all(|_| mr.test_random_base(rng).is_probably_prime())
}

#[cfg(test)]
mod tests {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};

    use super::*;

    fn u512(value: &BigUint) -> U512 {
        let bytes = value.to_bytes_be();
        let mut be = [0u8; 64];
        be[64 - bytes.len()..].copy_from_slice(&bytes);
        U512::from_be_slice(&be)
    }

    #[test]
    fn the_largest_512_bit_prime_is_accepted() {
        // 2^512 − 569 is prime; 2^512 − 567 is not (`openssl prime` agrees).
        let top = BigUint::from(1u32) << 512;
        let prime = &top - 569u32;
        let composite = &top - 567u32;
        assert!(is_probable_prime(&u512(&prime), &mut OsRng));
        assert!(!is_probable_prime(&u512(&composite), &mut OsRng));
    }

    #[test]
    fn a_strong_pseudoprime_to_base_2_is_rejected() {
        // 3215031751 = 151 · 751 · 28351 passes Miller–Rabin to bases 2, 3,
        // 5 and 7; the Lucas test and the random bases must catch it.
        let spsp = U512::from_u64(3_215_031_751);
        assert!(!is_probable_prime(&spsp, &mut OsRng));
    }

    #[test]
    fn carmichael_numbers_are_rejected() {
        // Composites that pass a Fermat test to every coprime base.
        for n in [561u64, 41_041, 825_265, 321_197_185] {
            assert!(!is_probable_prime(&U512::from_u64(n), &mut OsRng), "{n}");
        }
    }

    #[test]
    fn primes_have_512_bits_with_the_top_two_set_and_p_minus_1_coprime_to_e() {
        let e = BigUint::from(DEVICE_KEY_EXPONENT);
        for _ in 0..4 {
            let p = random_prime(&mut OsRng);
            assert_eq!(p.bits(), 512);
            assert_eq!(&p >> 510usize, BigUint::from(3u32), "top two bits set");
            assert_ne!(&p % &e, BigUint::from(1u32));
        }
    }

    #[test]
    fn generated_keys_are_consistent_rsa_1024_keys() {
        let one = BigUint::from(1u32);
        for _ in 0..3 {
            let key = generate().unwrap();
            assert_eq!(key.n().bits(), 1024);
            assert_eq!(*key.e(), BigUint::from(65537u32));
            let primes = key.primes();
            assert_eq!(primes.len(), 2);
            let (p, q) = (&primes[0], &primes[1]);
            assert_eq!(&(p * q), key.n());
            assert!(distance(p, q) > (BigUint::from(1u32) << 412));
            // d · e ≡ 1 modulo p − 1 and q − 1 (so modulo their lcm).
            let de = key.d() * key.e();
            assert_eq!(&de % (p - &one), one);
            assert_eq!(&de % (q - &one), one);
            key.validate().unwrap();
        }
    }

    #[test]
    fn a_second_prime_too_close_to_the_first_is_drawn_again() {
        let p = random_prime(&mut OsRng);
        let key = key_from_primes(p.clone(), p.clone(), &mut OsRng).unwrap();
        let primes = key.primes();
        assert_eq!(primes[0], p);
        assert_ne!(primes[1], p);
        assert!(distance(&primes[0], &primes[1]) > (BigUint::from(1u32) << 412));
    }
}
