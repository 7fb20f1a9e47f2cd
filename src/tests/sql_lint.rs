//! A lint for the SQL the extension generates to run under the caller's
//! search_path: every operator `OPERATOR(pg_catalog.…)`, every function and
//! cast target schema-qualified, and none of the sugar that expands to
//! unqualified operators (`BETWEEN`, `IN`, `LIKE`, `ANY`, `NULLIF`, simple
//! `CASE`, `IS DISTINCT FROM`, …). Returns what it finds, so a test can fail
//! on the first unqualified name a change introduces.

/// Keywords that may stand before `(` without being a function call.
const PAREN_KEYWORDS: &[&str] = &[
    "exists", "coalesce", "array", "row", "select", "where", "and", "or", "not", "on", "from",
    "join", "lateral", "then", "else", "when", "by", "case", "over",
];

/// Sugar whose expansion names `=`, `<`, `~~` and friends unqualified.
const SUGAR: &[&str] = &[
    "between", "in", "like", "ilike", "similar", "any", "some", "all", "nullif", "distinct",
    "overlaps",
];

const OPERATOR_CHARS: &[u8] = b"+-*/<>=~!@#%^&|?";

enum Token {
    Word(String),
    Qualified(String, String),
    Operator(String),
    Punct(u8),
    Literal,
}

fn tokens(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let read_name = |i: &mut usize| -> String {
        if bytes[*i] == b'"' {
            let start = *i;
            *i += 1;
            while *i < bytes.len() && !(bytes[*i] == b'"' && bytes.get(*i + 1) != Some(&b'"')) {
                *i += if bytes[*i] == b'"' { 2 } else { 1 };
            }
            *i += 1;
            sql[start..*i].to_string()
        } else {
            let start = *i;
            while *i < bytes.len() && word_byte(bytes[*i]) {
                *i += 1;
            }
            sql[start..*i].to_ascii_lowercase()
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b'\'' {
            i += 1;
            while i < bytes.len() && !(bytes[i] == b'\'' && bytes.get(i + 1) != Some(&b'\'')) {
                i += if bytes[i] == b'\'' { 2 } else { 1 };
            }
            i += 1;
            out.push(Token::Literal);
        } else if word_byte(b) || b == b'"' {
            let first = read_name(&mut i);
            if bytes.get(i) == Some(&b'.')
                && bytes.get(i + 1).is_some_and(|&n| word_byte(n) || n == b'"')
            {
                i += 1;
                let second = read_name(&mut i);
                out.push(Token::Qualified(first, second));
            } else if first.bytes().all(|c| c.is_ascii_digit() || c == b'$') {
                out.push(Token::Literal);
            } else {
                out.push(Token::Word(first));
            }
        } else if OPERATOR_CHARS.contains(&b) {
            let start = i;
            while i < bytes.len() && OPERATOR_CHARS.contains(&bytes[i]) {
                i += 1;
            }
            out.push(Token::Operator(sql[start..i].to_string()));
        } else {
            out.push(Token::Punct(b));
            i += 1;
        }
    }
    out
}

/// Every unqualified operator, function, cast target and sugar keyword in `sql`.
pub fn unqualified_names(sql: &str) -> Vec<String> {
    let tokens = tokens(sql);
    let mut found = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let next = tokens.get(index + 1);
        let previous = index.checked_sub(1).map(|i| &tokens[i]);
        match &tokens[index] {
            Token::Word(word) if word == "operator" => {
                // OPERATOR(schema.op): the schema must be pg_catalog.
                match (tokens.get(index + 2), tokens.get(index + 3)) {
                    (Some(Token::Word(schema)), _) if schema == "pg_catalog" => {}
                    _ => found.push(format!("OPERATOR(...) at token {index}")),
                }
                while index < tokens.len() && !matches!(tokens[index], Token::Punct(b')')) {
                    index += 1;
                }
            }
            Token::Word(word) if SUGAR.contains(&word.as_str()) => {
                let after_union = matches!(previous, Some(Token::Word(w)) if w == "union");
                let select_distinct =
                    word == "distinct" && !matches!(next, Some(Token::Word(w)) if w == "from");
                if !after_union && !select_distinct {
                    found.push(word.to_uppercase());
                }
            }
            Token::Word(word)
                if word == "case" && !matches!(next, Some(Token::Word(w)) if w == "when") =>
            {
                found.push("simple CASE".into());
            }
            Token::Word(word) if matches!(next, Some(Token::Punct(b'('))) => {
                let alias = matches!(previous, Some(Token::Word(w)) if w == "as");
                if !alias && !PAREN_KEYWORDS.contains(&word.as_str()) {
                    found.push(format!("{word}()"));
                }
            }
            Token::Operator(op) => {
                let star_ok = op == "*"
                    && (matches!(previous, Some(Token::Punct(b'.')))
                        || matches!(next, Some(Token::Punct(b')'))));
                if !star_ok {
                    found.push(op.clone());
                }
            }
            Token::Punct(b':') if matches!(next, Some(Token::Punct(b':'))) => {
                match tokens.get(index + 2) {
                    Some(Token::Qualified(schema, _)) if schema == "pg_catalog" => {}
                    _ => found.push(format!("cast at token {index}")),
                }
                index += 1;
            }
            Token::Qualified(schema, name)
                if matches!(next, Some(Token::Punct(b'(')))
                    && schema != "pg_catalog"
                    && schema != "export_system" =>
            {
                found.push(format!("{schema}.{name}()"));
            }
            _ => {}
        }
        index += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::unqualified_names;

    #[test]
    fn finds_every_unqualified_name() {
        let clean = "SELECT c.*, pg_catalog.count(*) FROM \"s\".\"t\" c \
            WHERE c.\"a\"::pg_catalog.text OPERATOR(pg_catalog.=) $1::pg_catalog.text \
            AND EXISTS (SELECT FROM pg_catalog.unnest($2::pg_catalog.text[]) AS l(e) \
            WHERE 'x' OPERATOR(pg_catalog.||) 'y' OPERATOR(pg_catalog.=) l.e) \
            AND CASE WHEN true THEN 1 END OPERATOR(pg_catalog.=) 1 \
            AND export_system.json_is_readable(c.m::pg_catalog.text) \
            ORDER BY c.\"id\" ASC NULLS LAST";
        assert_eq!(unqualified_names(clean), Vec::<String>::new());
        for (bad, found) in [
            (
                "SELECT x::numeric BETWEEN 0 AND 1",
                vec!["cast at token 2", "BETWEEN"],
            ),
            (
                "SELECT 1 WHERE a OPERATOR(pg_catalog.=) ANY (b)",
                vec!["ANY"],
            ),
            ("SELECT a >= b", vec![">="]),
            ("SELECT lower(a)", vec!["lower()"]),
            ("SELECT a IN ('x')", vec!["IN"]),
            ("SELECT a LIKE 'x%'", vec!["LIKE"]),
            ("SELECT NULLIF(a, b)", vec!["NULLIF"]),
            ("SELECT CASE a WHEN 1 THEN 2 END", vec!["simple CASE"]),
            ("SELECT a IS DISTINCT FROM b", vec!["DISTINCT"]),
            (
                "SELECT a OPERATOR(evil.=) b",
                vec!["OPERATOR(...) at token 2"],
            ),
            ("SELECT evil.f(a)", vec!["evil.f()"]),
            ("SELECT a::text", vec!["cast at token 2"]),
        ] {
            assert_eq!(unqualified_names(bad), found, "{bad}");
        }
    }
}
