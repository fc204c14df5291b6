//! The two workloads both hosts run, with the exact inputs: echo on a 100-byte JSON payload and
//! text-stats on a 64 KiB text. Inputs are deterministic, so every run measures the same bytes.

use serde_json::json;

/// Bytes of text the text-stats input carries.
pub const TEXT_BYTES: usize = 64 * 1024;
/// Bytes of the echo payload (the whole JSON document).
pub const ECHO_BYTES: usize = 100;

/// One guest, called with one input on every host.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Short name used in the table (`echo`, `text-stats`).
    pub name: &'static str,
    /// Directory of the Symphony sample under `sample-extensions/`.
    pub sample_dir: &'static str,
    /// File name of the Extism plugin in the plugin directory.
    pub plugin_file: &'static str,
    /// The JSON input, as bytes.
    pub input: Vec<u8>,
}

impl Workload {
    /// Both workloads, echo first.
    ///
    /// # Errors
    /// When an input cannot be encoded (never, for these literal values).
    pub fn all() -> anyhow::Result<Vec<Self>> {
        Ok(vec![
            Self {
                name: "echo",
                sample_dir: "echo",
                plugin_file: "extism_peer_echo.wasm",
                input: echo_input()?,
            },
            Self {
                name: "text-stats",
                sample_dir: "text-stats",
                plugin_file: "extism_peer_text_stats.wasm",
                input: serde_json::to_vec(&json!({ "text": text() }))?,
            },
        ])
    }
}

/// `{"payload":"xxx…"}`, exactly [`ECHO_BYTES`] bytes long.
fn echo_input() -> anyhow::Result<Vec<u8>> {
    let overhead = serde_json::to_vec(&json!({ "payload": "" }))?.len();
    Ok(serde_json::to_vec(&json!({ "payload": "x".repeat(ECHO_BYTES - overhead) }))?)
}

/// [`TEXT_BYTES`] bytes (cut at a character boundary) of lines of words drawn from a small
/// vocabulary with a fixed-seed generator; a few words are non-ASCII, so `chars` differs from
/// `bytes` and the guest walks real UTF-8.
fn text() -> String {
    const WORDS: [&str; 16] = [
        "symphony",
        "extension",
        "sandbox",
        "fuel",
        "memory",
        "deadline",
        "naïve",
        "façade",
        "der",
        "Übergang",
        "日本語",
        "component",
        "wasm",
        "host",
        "guest",
        "limit",
    ];
    let mut state: u32 = 0x2545_f491;
    let mut next = move || {
        // xorshift32: deterministic and dependency-free.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let mut text = String::with_capacity(TEXT_BYTES + 64);
    while text.len() < TEXT_BYTES {
        let words_on_line = 4 + next() % 12;
        for i in 0..words_on_line {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(WORDS[(next() % 16) as usize]);
        }
        text.push('\n');
    }
    let mut cut = TEXT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_have_the_advertised_sizes() -> anyhow::Result<()> {
        let workloads = Workload::all()?;
        assert_eq!(workloads[0].input.len(), ECHO_BYTES);
        let text = text();
        assert!(text.len() <= TEXT_BYTES && text.len() > TEXT_BYTES - 4);
        assert!(text.chars().count() < text.len());
        Ok(())
    }
}
