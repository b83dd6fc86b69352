//! A look at a WAV file's own header before symphonia reads it, so that a file that is WAV but
//! has one damaged field is refused naming that field (symphonia only says the probe failed), and
//! a data chunk whose size hides most of the audio is caught rather than read as a short clip.

use std::io::{Read, Seek, SeekFrom};

use super::pcm::MAX_CHANNELS;
use super::SAMPLE_RATES;

/// The chunk header: a four-character id and a little-endian size.
const CHUNK_HEADER: u64 = 8;

/// How far into a file a RIFF/WAVE header is looked for: symphonia's probe finds one after
/// leading junk too, and reads it.
const SEARCH_BYTES: u64 = 1 << 20;

/// What the header says that would make the file unreadable or misread, as a sentence; `None`
/// when the file is not RIFF/WAVE (another reader's business) or its header is sound. A data
/// chunk that claims more bytes than the file holds is a recording cut short, and is read up to
/// where it ends (logged as a warning).
pub(super) fn header_problem(file: &mut (impl Read + Seek), len: u64) -> Option<String> {
    let mut head = Vec::new();
    file.take(SEARCH_BYTES).read_to_end(&mut head).ok()?;
    let start = head
        .windows(12)
        .position(|w| &w[0..4] == b"RIFF" && &w[8..12] == b"WAVE")? as u64;
    let mut at = start + 12;
    while at + CHUNK_HEADER <= len {
        let (id, size) = read_chunk_header(file, at)?;
        let body = at + CHUNK_HEADER;
        match &id {
            b"fmt " => {
                let mut fmt = [0u8; 16];
                if size < 16 || file.read_exact(&mut fmt).is_err() {
                    return Some(format!(
                        "the fmt chunk holds {size} bytes, but a WAV format takes at least 16: \
                         the header is damaged"
                    ));
                }
                if let Some(problem) = format_problem(&fmt) {
                    return Some(problem);
                }
            }
            b"data" => return data_problem(file, body, size, len),
            _ => {}
        }
        at = body + size + size % 2;
    }
    None
}

fn read_chunk_header(file: &mut (impl Read + Seek), at: u64) -> Option<([u8; 4], u64)> {
    let mut header = [0u8; CHUNK_HEADER as usize];
    file.seek(SeekFrom::Start(at)).ok()?;
    file.read_exact(&mut header).ok()?;
    let id = [header[0], header[1], header[2], header[3]];
    let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as u64;
    Some((id, size))
}

/// The fields of a `fmt ` chunk: format tag, channels, rate, byte rate, block align, bits.
fn format_problem(fmt: &[u8; 16]) -> Option<String> {
    let u16_at = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
    let tag = u16_at(0);
    let channels = u16_at(2) as usize;
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = u16_at(14);
    if !(1..=MAX_CHANNELS).contains(&channels) {
        return Some(format!(
            "the header says {channels} channels, but earsight reads 1 to {MAX_CHANNELS}: the \
             header is damaged"
        ));
    }
    if !SAMPLE_RATES.contains(&rate) {
        return Some(rate_problem(rate));
    }
    // Compressed formats (ADPCM, say) state their own sizes; their decoders judge them.
    const PCM: u16 = 1;
    const FLOAT: u16 = 3;
    const EXTENSIBLE: u16 = 0xFFFE;
    let valid = match tag {
        PCM => matches!(bits, 8 | 16 | 24 | 32),
        FLOAT => matches!(bits, 32 | 64),
        EXTENSIBLE => matches!(bits, 8 | 16 | 24 | 32 | 64),
        _ => true,
    };
    if !valid {
        return Some(format!(
            "the header says {bits} bits per sample, but WAV samples are 8, 16, 24 or 32 bits \
             (32 or 64 for floating point): the header is damaged"
        ));
    }
    None
}

/// A data chunk is sound when what follows its declared end is more chunks (a `LIST` of tags,
/// say), nothing, or a little junk (some writers leave a few dozen bytes). When more bytes than
/// the chunk declares follow it unaccounted for, its size is wrong and most of the audio would
/// be lost.
fn data_problem(file: &mut (impl Read + Seek), body: u64, size: u64, len: u64) -> Option<String> {
    let remaining = len - body;
    if size >= remaining {
        if size > remaining {
            log::warn!(
                "the WAV data chunk says {size} bytes but the file ends after {remaining}: \
                 reading the audio up to where it is cut"
            );
        }
        return None;
    }
    let mut at = body + size + size % 2;
    while at < len {
        let chunk = (len - at >= CHUNK_HEADER)
            .then(|| read_chunk_header(file, at))
            .flatten()
            .filter(|(id, chunk)| {
                id.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
                    && at + CHUNK_HEADER + chunk <= len
            });
        match chunk {
            Some((_, chunk)) => at += CHUNK_HEADER + chunk + chunk % 2,
            None => break,
        }
    }
    let unaccounted = len.saturating_sub(at);
    (unaccounted > size && unaccounted >= HIDDEN_AUDIO_BYTES).then(|| {
        format!(
            "the data chunk says it holds {size} bytes, but {remaining} bytes follow its \
             header: its size is damaged, and reading it would lose the rest of the audio"
        )
    })
}

/// Unaccounted bytes after the data chunk below this are junk a writer left, not hidden audio.
const HIDDEN_AUDIO_BYTES: u64 = 4096;

/// The sentence for a sample rate outside [`SAMPLE_RATES`] in a file's header.
pub(super) fn rate_problem(rate: u32) -> String {
    format!(
        "the header says {rate} Hz, but earsight reads {} to {} Hz: the header is damaged",
        SAMPLE_RATES.start(),
        SAMPLE_RATES.end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav(channels: u16, rate: u32, bits: u16, declared: Option<u32>, data: usize) -> Vec<u8> {
        let mut out = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        out.extend(16u32.to_le_bytes());
        out.extend(1u16.to_le_bytes());
        out.extend(channels.to_le_bytes());
        out.extend(rate.to_le_bytes());
        out.extend((rate * 2).to_le_bytes());
        out.extend(2u16.to_le_bytes());
        out.extend(bits.to_le_bytes());
        out.extend(b"data");
        out.extend(declared.unwrap_or(data as u32).to_le_bytes());
        out.extend(vec![0u8; data]);
        out
    }

    fn problem(bytes: &[u8]) -> Option<String> {
        header_problem(&mut Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn a_sound_header_and_one_with_tags_after_the_data_pass() {
        assert_eq!(problem(&wav(1, 16_000, 16, None, 1000)), None);
        let mut tagged = wav(2, 44_100, 16, None, 1000);
        tagged.extend(b"LIST");
        tagged.extend(4u32.to_le_bytes());
        tagged.extend(b"INFO");
        assert_eq!(problem(&tagged), None);
        assert_eq!(problem(b"OggS and then some"), None);
    }

    #[test]
    fn a_header_after_leading_junk_is_checked_too() {
        let junk = [
            b"\x74\xba junk before the header ".as_slice(),
            &wav(1, 0, 16, None, 100),
        ]
        .concat();
        let found = problem(&junk).unwrap_or_default();
        assert!(found.contains("says 0 Hz"), "{found:?}");
    }

    #[test]
    fn each_damaged_field_is_named_with_its_value_and_range() {
        for (bytes, expected) in [
            (
                wav(0, 16_000, 16, None, 100),
                "says 0 channels, but earsight reads 1 to 32",
            ),
            (wav(64, 16_000, 16, None, 100), "says 64 channels"),
            (
                wav(1, 7, 16, None, 100),
                "says 7 Hz, but earsight reads 8000 to 384000 Hz",
            ),
            (wav(1, 16_000, 7, None, 100), "says 7 bits per sample"),
            (
                wav(1, 16_000, 16, Some(100), 160_000),
                "the data chunk says it holds 100 bytes, but 160000 bytes follow",
            ),
        ] {
            let found = problem(&bytes).unwrap_or_default();
            assert!(found.contains(expected), "{expected}: {found:?}");
        }
    }

    #[test]
    fn a_few_bytes_of_junk_after_the_data_are_left_alone() {
        // As some recordings in the wild have (69 bytes after 70,194 of audio).
        let mut junk = wav(1, 16_000, 16, None, 70_194);
        junk.extend([0x55u8; 69]);
        assert_eq!(problem(&junk), None);
    }

    #[test]
    fn a_data_chunk_cut_short_is_read_as_far_as_it_goes() {
        let mut cut = wav(1, 16_000, 16, Some(1_000_000), 1000);
        cut.truncate(cut.len() - 10);
        assert_eq!(problem(&cut), None);
    }
}
