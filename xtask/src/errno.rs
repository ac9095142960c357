//! Errno numbers and names (x86-64 Linux): the agent sends numbers, people
//! read names.

/// `(number, name)`; EAGAIN and EWOULDBLOCK share 11 and are shown as
/// EWOULDBLOCK, the name `delete_module(2)` documents.
const NAMES: &[(i32, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (7, "E2BIG"),
    (8, "ENOEXEC"),
    (9, "EBADF"),
    (11, "EWOULDBLOCK"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (24, "EMFILE"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (30, "EROFS"),
    (34, "ERANGE"),
    (36, "ENAMETOOLONG"),
    (38, "ENOSYS"),
    (61, "ENODATA"),
    (74, "EBADMSG"),
    (75, "EOVERFLOW"),
    (95, "EOPNOTSUPP"),
    (110, "ETIMEDOUT"),
    (125, "ECANCELED"),
    (126, "ENOKEY"),
    (127, "EKEYEXPIRED"),
    (128, "EKEYREVOKED"),
    (129, "EKEYREJECTED"),
];

/// The symbolic name of `errno`, or `errno N` when it is not in the table.
pub fn name(errno: i32) -> String {
    NAMES.iter().find(|(n, _)| *n == errno).map(|(_, s)| s.to_string()).unwrap_or_else(|| format!("errno {errno}"))
}

/// The number of a symbolic name (EAGAIN is accepted for 11).
pub fn number(name: &str) -> Option<i32> {
    if name == "EAGAIN" {
        return Some(11);
    }
    NAMES.iter().find(|(_, s)| *s == name).map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        assert_eq!(name(16), "EBUSY");
        assert_eq!(name(11), "EWOULDBLOCK");
        assert_eq!(name(999), "errno 999");
        assert_eq!(number("EAGAIN"), Some(11));
        assert_eq!(number("ENOENT"), Some(2));
        assert_eq!(number("EFOO"), None);
        for (n, s) in NAMES {
            assert_eq!(number(s), Some(*n));
        }
    }
}
