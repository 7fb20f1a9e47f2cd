//! Piece-for-piece and count equality with bpe-openai's regex split, the
//! reference: hand-picked boundary strings, seeded random strings from an
//! alphabet that over-samples the patterns' boundaries, random code points,
//! and code points across the whole range in context. (The rounds are sized
//! for a debug build; the pretokenizer's development ran 30x more, and every
//! code point.)

use bpe_openai::Tokenizer;

use crate::training::piece_cache::PieceCountCache;
use crate::training::pretokenizer::{Pattern, pieces};

const PATTERNS: [Pattern; 2] = [Pattern::O200k, Pattern::Cl100k];

fn library(pattern: Pattern) -> &'static Tokenizer {
    match pattern {
        Pattern::O200k => bpe_openai::o200k_base(),
        Pattern::Cl100k => bpe_openai::cl100k_base(),
    }
}

#[track_caller]
fn assert_same_pieces(pattern: Pattern, text: &str) {
    let expected: Vec<&str> = library(pattern).split(text).collect();
    let actual: Vec<&str> = pieces(pattern, text).collect();
    assert_eq!(actual, expected, "{pattern:?} pieces differ for {text:?}");
}

#[track_caller]
fn assert_same_count(pattern: Pattern, text: &str) {
    let tokenizer = library(pattern);
    let actual: usize = pieces(pattern, text)
        .map(|piece| tokenizer.bpe.count(piece.as_bytes()))
        .sum();
    assert_eq!(
        actual,
        tokenizer.count(text),
        "{pattern:?} count differs for {text:?}"
    );
}

/// SplitMix64: small, deterministic, good enough to draw test strings.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn any_char(&mut self) -> char {
        loop {
            if let Some(c) = char::from_u32(self.below(0x11_0000) as u32) {
                return c;
            }
        }
    }

    /// A code point from the densely assigned blocks (many scripts, marks, digits, letters).
    fn assigned_char(&mut self) -> char {
        const BLOCKS: [(u32, u32); 8] = [
            (0x80, 0x2FFF),
            (0x3000, 0x33FF),
            (0x4E00, 0x4E80),
            (0xA000, 0xABFF),
            (0xAC00, 0xAC80),
            (0xFB00, 0xFFFF),
            (0x1_0000, 0x1_1FFF),
            (0x1_D000, 0x1_FAFF),
        ];
        loop {
            let (first, last) = BLOCKS[self.below(BLOCKS.len() as u64) as usize];
            let code_point = first + self.below(u64::from(last - first + 1)) as u32;
            if let Some(c) = char::from_u32(code_point) {
                return c;
            }
        }
    }
}

/// Characters that sit on the boundaries of the patterns, with their relative weights.
const BOUNDARY_ALPHABET: &[(&str, u32)] = &[
    ("abcxyz", 6),
    ("ABCXYZ", 6),
    ("'", 8),
    ("strevmldSTREVMLD", 10),
    ("ſK", 2), // U+017F long s (folds to s), U+212A Kelvin sign
    ("0123456789", 4),
    ("٣Ⅻ²₃", 3),
    (" ", 10),
    ("\t", 3),
    ("\r", 4),
    ("\n", 5),
    ("\u{A0}\u{3000}\u{2028}\u{85}\u{B}\u{C}", 3),
    ("/", 4),
    (".,!?\"$%&*()-_:;\\@#[]{}|~^`+=<>", 6),
    ("\u{301}\u{903}\u{20DD}\u{300}", 5), // Mn, Mc, Me marks
    ("ʰ", 2),                             // Lm
    ("中ا", 3),                           // Lo
    ("ǅ", 2),                             // Lt
    ("😀👍🏽\u{200D}\u{FE0F}", 2),          // emoji, skin tone (Sk), ZWJ (Cf), VS16 (Mn)
    ("éÉßİıΣσςДд", 2),
];

fn boundary_string(rng: &mut Rng, max_chars: u64) -> String {
    let total_weight: u32 = BOUNDARY_ALPHABET.iter().map(|&(_, weight)| weight).sum();
    let length = rng.below(max_chars + 1);
    let mut text = String::new();
    for _ in 0..length {
        let roll = rng.below(100);
        if roll < 3 {
            text.push(rng.any_char());
        } else if roll < 8 {
            text.push(rng.assigned_char());
        } else {
            let mut pick = rng.below(u64::from(total_weight)) as u32;
            for &(chars, weight) in BOUNDARY_ALPHABET {
                if pick < weight {
                    let chars: Vec<char> = chars.chars().collect();
                    text.push(chars[rng.below(chars.len() as u64) as usize]);
                    break;
                }
                pick -= weight;
            }
        }
    }
    text
}

const TRICKY: &[&str] = &[
    "",
    "a",
    "I'm don't we'll you're they've she'd it's",
    "I'M DON'T WE'LL YOU'RE THEY'VE SHE'D IT'S",
    "I'm DON't We'Ll you'rE they'Ve she'D It'S",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'x ''s '",
    "'sa 'Sam 'rex 'llama 'ddd 're' 's's",
    "its'ſ it'ſ IT'ſ 'ſ a'ſt 'K 'k",
    "Hello'S HELLO's hello'Ll HeLLo'rE",
    "café cafe\u{301} CAFE\u{301} e\u{301}\u{301}x \u{301}\u{301}abc",
    "\u{301}",
    "\u{301}A",
    "\u{301}a",
    "A\u{301}",
    "a\u{301}",
    "\u{20DD}x",
    "x\u{903}Y",
    "!\u{301}",
    " \u{301}",
    "\u{301} ",
    "\u{301}'s",
    "A\u{301}'S",
    "AB\u{301}CD",
    "ABC\u{301}Dz",
    "ʰʰʰ ʰA Aʰ aʰ ʰa ABʰCD ʰ'S",
    "中文字符 中A A中 a中 中'll ABC中DEF Abc中def",
    "ǅungla ǅUNGLA aǅb Aǅ ǅǅ",
    "اللغة العربية",
    "日本語のテキストです。東京タワー",
    "你好，世界！",
    "😀 😀😀 a😀 😀a 👍🏽 👨\u{200D}👩\u{200D}👧 ❤\u{FE0F}",
    "1 12 123 1234 12345 123456 1234567",
    "٣٣٣٣ Ⅻ ²³ ²²²² 1²3 ①②③④ ١٢٣٤٥",
    "a1 1a A1b 1'S 12'",
    "   hello",
    "   !",
    "   ",
    "a   ",
    "  \n",
    " \n ",
    "\n  a",
    " \r\n \r\n  x",
    "\r\n\r\n",
    "\r",
    "\n",
    "\r\r\n\n",
    "a\r\nb",
    "!\r\n",
    "!\n\n/",
    "!/\n/x",
    "?/",
    " /",
    "// comment",
    "http://example.com/path/to?x=1&y=2",
    "\t",
    "\tx",
    "\t\t!",
    "x\t",
    " \t ",
    "\ta\t'S",
    "\u{A0}a",
    "a\u{A0}",
    "\u{A0}\u{A0}b",
    "\u{3000}\u{3000}x",
    "x\u{2028}y",
    "\u{2028}\u{2029}",
    "\u{85}x",
    "\u{B}\u{C}",
    "  \u{2028}\n",
    "\u{FFFF}\u{10000}\u{10FFFF}\u{E000}\u{F8FF}\u{1D400}\u{1D41A}\u{D7FF}\u{E000}",
    "\u{1D400}\u{1D401}\u{1D41A}",
    "𝐀𝐁𝐜",
    "\u{10FFFF}a",
    "a\u{10FFFF}",
    "\u{0}\u{1}\u{7F}",
    "$5.99 100% 3.14 -42 +1e10 #hashtag @user",
    "He said \"hello\" and she said 'goodbye'.",
    "C:\\path\\to\\file.txt",
    "İstanbul ıi ǈ ǋ Ǳ ǲ ǳ ΣΑΣ σας",
    "ß ẞ ﬁ ﬀ ﬅ ſt",
    "'LL'lL'Ll 're'RE'rE 've'VE'Ve 'mm'MM 'dD",
    "DON'T don'T Don'T dON't",
    "  'S",
    "a  \n\n  b  ",
    "x \u{301}y",
    "1\u{301}",
    "\u{301}1",
    " \u{301}A",
    "!\u{301}A",
    "  \u{A0}x",
    " \u{A0}",
    "\u{A0} ",
    "a \u{3000}!",
    "\t\t a",
    "\t\t !",
    " \t\n\t a",
    "\r\n\r\n\t",
    "x\r",
    "x\r\n",
    "!!\r\n\r\n//x",
    "!/\r/\n/y",
    "a/b",
    " / ",
    "1/2",
];

#[test]
fn tricky_strings() {
    for pattern in PATTERNS {
        for text in TRICKY {
            assert_same_pieces(pattern, text);
            assert_same_count(pattern, text);
        }
    }
}

#[test]
fn random_boundary_strings() {
    let mut rng = Rng(0x5EED_0001);
    for round in 0..50_000 {
        let max_chars = match round {
            _ if round % 1000 == 0 => 2000,
            _ if round % 10 == 0 => 64,
            _ => 16,
        };
        let text = boundary_string(&mut rng, max_chars);
        for pattern in PATTERNS {
            assert_same_pieces(pattern, &text);
            if round % 4 == 0 {
                assert_same_count(pattern, &text);
            }
        }
    }
}

#[test]
fn random_code_points() {
    let mut rng = Rng(0x5EED_0002);
    for round in 0..20_000 {
        let length = rng.below(24);
        let text: String = (0..length)
            .map(|_| {
                if round % 2 == 0 {
                    rng.any_char()
                } else {
                    rng.assigned_char()
                }
            })
            .collect();
        for pattern in PATTERNS {
            assert_same_pieces(pattern, &text);
            if round % 4 == 0 {
                assert_same_count(pattern, &text);
            }
        }
    }
}

#[test]
fn cached_counts() {
    // A tiny cache, so that it is cleared again and again.
    let mut caches = PATTERNS.map(|_| PieceCountCache::new(512));
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..2_000 {
        let text = boundary_string(&mut rng, 32);
        for (pattern, cache) in PATTERNS.into_iter().zip(&mut caches) {
            let bpe = &library(pattern).bpe;
            let cached: usize = pieces(pattern, &text)
                .map(|piece| cache.count(piece.as_bytes(), |bytes| bpe.count(bytes)))
                .sum();
            assert_eq!(
                cached,
                library(pattern).count(text.as_str()),
                "{pattern:?} {text:?}"
            );
        }
    }
}

/// Code points across the whole range (every 17th) in contexts that exercise
/// every class each may belong to.
#[test]
fn code_points_across_the_range_in_context() {
    for code_point in (0..=u32::from(char::MAX)).step_by(17) {
        let Some(c) = char::from_u32(code_point) else {
            continue;
        };
        let text = format!(
            "{c}{c}{c}{c} {c}a{c}A'S\n{c}  {c}\t{c}'ll{c}/{c}!{c}\r\n{c}1{c}Ab'{c}ab'{c}{c}"
        );
        for pattern in PATTERNS {
            assert_same_pieces(pattern, &text);
        }
    }
}
