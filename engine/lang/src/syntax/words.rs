//! Reserved words and operator words (docs/spec/krl-language.md 1.4).

/// Reserved words: never a variable, parameter or rule name (docs/spec/krl-language.md 1.4
/// group 1).
pub const RESERVED: &[&str] = &[
    "defaction",
    "function",
    "return",
    "not",
    "setting",
    "null",
    "true",
    "false",
];

/// Operator words (docs/spec/krl-language.md 1.4 group 2): fine as rule names, event types
/// and method names, but always read as the operator in an expression, so
/// declaring a variable with one of these names is refused.
pub const OPERATOR_WORDS: &[&str] = &[
    "like", "cmp", "and", "or", "before", "then", "after", "between", "any", "count", "repeat",
];

/// Is `name` a reserved word or an operator word (not declarable)?
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || OPERATOR_WORDS.contains(&name)
}

/// Levenshtein distance over characters, for "did you mean" hints (short
/// names only).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
