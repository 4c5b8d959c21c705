//! Generating the admin's one-time console password from the operating system's random
//! source, so that it satisfies any password policy IAM can express: every character
//! class is present and the length is at least the policy's minimum.

use secrecy::SecretString;

use crate::error::Error;
use crate::password_policy::PasswordPolicy;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
/// The non-alphanumeric characters IAM's password policy counts as symbols.
const SYMBOLS: &[u8] = b"!@#$%^&*()_+-=[]{}|'";

/// Length when the policy asks for less: long enough to be strong, short enough to type.
const DEFAULT_LENGTH: usize = 24;
/// IAM's maximum password length.
const MAX_LENGTH: usize = 128;

/// A uniformly random index below `n` (rejection sampling, no modulo bias).
fn random_below(n: usize) -> Result<usize, Error> {
    let n32 = u32::try_from(n).map_err(|_| Error::internal("alphabet too large"))?;
    let zone = u32::MAX - (u32::MAX % n32);
    loop {
        let r = getrandom::u32()
            .map_err(|e| Error::internal(format!("the OS random source failed: {e}")))?;
        if r < zone {
            return Ok((r % n32) as usize);
        }
    }
}

/// A password for `policy`, from the OS random source.
pub fn generate(policy: &PasswordPolicy) -> Result<SecretString, Error> {
    let length = usize::try_from(policy.minimum_password_length)
        .unwrap_or(MAX_LENGTH)
        .clamp(DEFAULT_LENGTH, MAX_LENGTH);
    let classes = [UPPER, LOWER, DIGITS, SYMBOLS];
    let all: Vec<u8> = classes.concat();
    let mut chars: Vec<u8> = Vec::with_capacity(length);
    // One of each class first, so every policy is satisfied, then the rest from all.
    for class in classes {
        chars.push(class[random_below(class.len())?]);
    }
    while chars.len() < length {
        chars.push(all[random_below(all.len())?]);
    }
    // Fisher–Yates, so the guaranteed characters are not always in front.
    for i in (1..chars.len()).rev() {
        let j = random_below(i + 1)?;
        chars.swap(i, j);
    }
    let text = String::from_utf8(chars).map_err(|e| Error::internal(e.to_string()))?;
    Ok(SecretString::from(text))
}

/// Whether `password` satisfies `policy` (the checks IAM makes at CreateLoginProfile).
pub fn satisfies(password: &str, policy: &PasswordPolicy) -> bool {
    let has = |set: &[u8]| password.bytes().any(|b| set.contains(&b));
    let long_enough = password.chars().count() >= policy.minimum_password_length as usize;
    long_enough
        && (!policy.require_symbols || has(SYMBOLS))
        && (!policy.require_numbers || password.bytes().any(|b| b.is_ascii_digit()))
        && (!policy.require_uppercase_characters
            || password.bytes().any(|b| b.is_ascii_uppercase()))
        && (!policy.require_lowercase_characters
            || password.bytes().any(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn generated_passwords_satisfy_strict_policies() {
        let mut strict = PasswordPolicy::CIS;
        strict.minimum_password_length = 40;
        for policy in [PasswordPolicy::CIS, PasswordPolicy::AWS_DEFAULT, strict] {
            for _ in 0..200 {
                let p = generate(&policy).unwrap();
                assert!(satisfies(p.expose_secret(), &policy));
                assert!(p.expose_secret().len() >= DEFAULT_LENGTH);
            }
        }
        let long = generate(&strict).unwrap();
        assert_eq!(long.expose_secret().len(), 40);
    }

    #[test]
    fn passwords_differ_and_do_not_show_in_debug() {
        let a = generate(&PasswordPolicy::CIS).unwrap();
        let b = generate(&PasswordPolicy::CIS).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }

    #[test]
    fn every_character_of_the_alphabet_can_appear() {
        // A biased or truncated generator would never produce some characters.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            seen.extend(
                generate(&PasswordPolicy::CIS)
                    .unwrap()
                    .expose_secret()
                    .bytes(),
            );
        }
        let alphabet: std::collections::HashSet<u8> = [UPPER, LOWER, DIGITS, SYMBOLS]
            .concat()
            .into_iter()
            .collect();
        assert_eq!(seen, alphabet);
    }
}
