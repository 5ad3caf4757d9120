//! Strong ETags from response bodies: the same answer gives the same tag, whichever path
//! (actors or database) produced it, because it is a hash of the bytes sent.

/// FNV-1a, 64-bit: stable across builds and platforms (std's hasher is not promised to be),
/// and a collision only costs a client one stale 304 until the next change.
pub fn of(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// Whether an `If-None-Match` header value matches `tag` (strong comparison; `*` matches).
pub fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == tag)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_stable_and_compared_strongly() {
        let t = super::of(b"{\"events\":[]}");
        assert_eq!(t, super::of(b"{\"events\":[]}"));
        assert_ne!(t, super::of(b"{\"events\":[1]}"));
        assert!(super::matches(&format!("\"x\", {t}"), &t));
        assert!(super::matches("*", &t));
        assert!(!super::matches(&format!("W/{t}"), &t));
    }
}
