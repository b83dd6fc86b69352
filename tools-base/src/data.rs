//! Datasets as the tools read them: one manifest format (JSON lines, one clip per line) and
//! importers from the layouts users bring (AudioCaps and Clotho caption CSVs, ESC-10/ESC-50
//! `metadata.csv`, a CAV-MAE / AudioSet-style JSON list, a folder of audio files).
//!
//! Paths in a manifest are relative to the manifest's directory (or absolute), so a dataset
//! directory can be moved whole. Every fault names the file and line it was found on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Reads a JSON-lines file, one `what` a line (blank lines skipped), with the line number of
/// each; a bad line is named by file and line: `FILE:LINE: not a WHAT`.
pub fn read_numbered_json_lines<T: DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<Vec<(usize, T)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map(|value| (i + 1, value))
                .with_context(|| format!("{}:{}: not a {what}", path.display(), i + 1))
        })
        .collect()
}

/// Reads a JSON file (a recipe, a label map, thresholds); a malformed file or an unknown field
/// is an error naming the file.
pub fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a valid {what}", path.display()))
}

/// [`read_numbered_json_lines`] without the line numbers.
pub fn read_json_lines<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>> {
    Ok(read_numbered_json_lines(path, what)?
        .into_iter()
        .map(|(_, value)| value)
        .collect())
}

/// Which part of a dataset a clip belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

/// One clip: audio, optional video frames, captions and labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    pub id: String,
    pub audio: PathBuf,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub captions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    pub split: Split,
}

/// A manifest read and checked: its clips, with paths resolved against its directory.
pub struct Manifest {
    pub path: PathBuf,
    pub clips: Vec<Clip>,
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl Manifest {
    /// Reads a manifest; checks every line's fields, that ids are unique, that every audio
    /// file and frame exists, and (when `labels` is given) that every label is known.
    pub fn read(path: &Path, labels: Option<&HashSet<String>>) -> Result<Manifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut clips = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let at = format!("{}:{}", path.display(), i + 1);
            if line.trim().is_empty() {
                continue;
            }
            let mut clip: Clip = serde_json::from_str(line)
                .with_context(|| format!("{at}: not a clip (expected id, audio, split and optional frames, captions, labels)"))?;
            if let Some(first) = seen.insert(clip.id.clone(), i + 1) {
                bail!("{at}: id {:?} is already used on line {first}", clip.id);
            }
            clip.audio = resolve(base, &clip.audio);
            if !clip.audio.is_file() {
                bail!("{at}: audio file {} does not exist", clip.audio.display());
            }
            for frame in &mut clip.frames {
                *frame = resolve(base, frame);
                if !frame.is_file() {
                    bail!("{at}: frame {} does not exist", frame.display());
                }
            }
            if let Some(known) = labels {
                if let Some(unknown) = clip.labels.iter().find(|l| !known.contains(*l)) {
                    bail!("{at}: unknown label {unknown:?} (not in the label list)");
                }
            }
            clips.push(clip);
        }
        if clips.is_empty() {
            bail!("{}: no clips", path.display());
        }
        Ok(Manifest {
            path: path.into(),
            clips,
        })
    }

    /// Clips per split.
    pub fn counts(&self) -> BTreeMap<Split, usize> {
        let mut counts = BTreeMap::new();
        for c in &self.clips {
            *counts.entry(c.split).or_insert(0) += 1;
        }
        counts
    }
}

/// Writes clips as a manifest at `path` (which must not exist), with paths made relative to
/// its directory where they lie under it.
pub fn write_manifest(path: &Path, clips: &[Clip]) -> Result<()> {
    if path.exists() {
        bail!("{}: exists; choose a new path", path.display());
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::fs::canonicalize(base).with_context(|| format!("{}", base.display()))?;
    // Relative to the manifest when under its directory, else absolute: a path relative to
    // the working directory would not resolve from the manifest.
    let relative = |p: &Path| -> PathBuf {
        match std::fs::canonicalize(p) {
            Ok(abs) => abs
                .strip_prefix(&base)
                .map_or_else(|_| abs.clone(), Path::to_path_buf),
            Err(_) => p.to_path_buf(),
        }
    };
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for clip in clips {
        let clip = Clip {
            audio: relative(&clip.audio),
            frames: clip.frames.iter().map(|f| relative(f)).collect(),
            ..clip.clone()
        };
        serde_json::to_writer(&mut out, &clip)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// A CSV file read into header-named rows, with the line each row came from.
struct Csv {
    path: PathBuf,
    headers: Vec<String>,
    rows: Vec<(usize, HashMap<String, String>)>,
}

impl Csv {
    fn read(path: &Path, required: &[&str]) -> Result<Csv> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .with_context(|| format!("{}: no header line", path.display()))?
            .iter()
            .map(String::from)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("{}: malformed row", path.display()))?;
            // Counted from the bytes, since the csv crate's line numbers miss CRLF ends; after a
            // CRLF the record's position is the LF, which is counted as its line's start.
            let byte = record.position().map_or(0, |p| p.byte() as usize);
            let line = 1 + text.as_bytes()[..(byte + 1).min(text.len())]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            let row = headers
                .iter()
                .cloned()
                .zip(record.iter().map(String::from))
                .collect();
            rows.push((line, row));
        }
        let csv = Csv {
            path: path.into(),
            headers,
            rows,
        };
        csv.require(required)?;
        Ok(csv)
    }

    fn has(&self, column: &str) -> bool {
        self.headers.iter().any(|h| h == column)
    }

    fn require(&self, columns: &[&str]) -> Result<()> {
        if let Some(missing) = columns.iter().find(|c| !self.has(c)) {
            bail!(
                "{}:1: no column {missing:?} (found: {})",
                self.path.display(),
                self.headers.join(", ")
            );
        }
        Ok(())
    }

    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }
}

fn field<'a>(row: &'a HashMap<String, String>, name: &str) -> &'a str {
    row.get(name).map_or("", String::as_str)
}

/// A row's `fold`: a number, which UrbanSound8K writes as `fold1` and ESC as `1`.
fn fold_of(row: &HashMap<String, String>, at: &str) -> Result<u32> {
    let fold = field(row, "fold");
    fold.trim_start_matches("fold")
        .parse()
        .with_context(|| format!("{at}: fold {fold:?} is not a number"))
}

/// The first of `candidates` that exists, or an error naming them all.
fn find_audio(at: &str, candidates: &[PathBuf]) -> Result<PathBuf> {
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    bail!("{at}: no audio file (looked for {})", looked.join(", "))
}

/// AudioCaps (`audiocap_id,youtube_id,start_time,caption`): captions grouped by clip; audio at
/// `AUDIO_DIR/{youtube_id}.wav`, `Y{youtube_id}.wav` or `{youtube_id}_{start_time}.wav`.
pub fn import_audiocaps(csv_path: &Path, audio_dir: &Path, split: Split) -> Result<Vec<Clip>> {
    let csv = Csv::read(csv_path, &["youtube_id", "start_time", "caption"])?;
    let mut clips: Vec<Clip> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (line, row) in &csv.rows {
        let (yid, start) = (field(row, "youtube_id"), field(row, "start_time"));
        let id = format!("{yid}_{start}");
        if let Some(&i) = index.get(&id) {
            clips[i].captions.push(field(row, "caption").into());
            continue;
        }
        let audio = find_audio(
            &csv.at(*line),
            &[
                audio_dir.join(format!("{yid}.wav")),
                audio_dir.join(format!("Y{yid}.wav")),
                audio_dir.join(format!("{yid}_{start}.wav")),
            ],
        )?;
        index.insert(id.clone(), clips.len());
        clips.push(Clip {
            id,
            audio,
            frames: Vec::new(),
            captions: vec![field(row, "caption").into()],
            labels: Vec::new(),
            split,
        });
    }
    Ok(clips)
}

/// Clotho (`file_name,caption_1..caption_5`): audio at `AUDIO_DIR/{file_name}`.
pub fn import_clotho(csv_path: &Path, audio_dir: &Path, split: Split) -> Result<Vec<Clip>> {
    let csv = Csv::read(csv_path, &["file_name", "caption_1"])?;
    csv.rows
        .iter()
        .map(|(line, row)| {
            let name = field(row, "file_name");
            let audio = find_audio(&csv.at(*line), &[audio_dir.join(name)])?;
            let captions = (1..=5)
                .map(|k| field(row, &format!("caption_{k}")).trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            Ok(Clip {
                id: name.into(),
                audio,
                frames: Vec::new(),
                captions,
                labels: Vec::new(),
                split,
            })
        })
        .collect()
}

/// The clips of one fold of an ESC metadata file ([`import_esc`]'s test split), refused when
/// the fold has none: a held-out or test fold that is empty is a mistake, never a pass.
pub fn esc_fold(metadata: &Path, fold: u32) -> Result<Vec<Clip>> {
    let clips: Vec<Clip> = import_esc(metadata, fold)?
        .into_iter()
        .filter(|c| c.split == Split::Test)
        .collect();
    if clips.is_empty() {
        bail!("{}: no clips in fold {fold}", metadata.display());
    }
    Ok(clips)
}

/// ESC-50 (`filename,fold,target,category,...`, audio in `audio/`) or the ESC-10 layout of
/// `path,label,fold`; clips of `test_fold` are the test split, the rest train.
pub fn import_esc(metadata: &Path, test_fold: u32) -> Result<Vec<Clip>> {
    let root = metadata.parent().unwrap_or(Path::new("."));
    let csv = Csv::read(metadata, &["fold"])?;
    let esc50 = csv.has("filename");
    csv.require(if esc50 {
        &["filename", "category"]
    } else {
        &["path", "label"]
    })?;
    csv.rows
        .iter()
        .map(|(line, row)| {
            let at = csv.at(*line);
            let (rel, label) = if esc50 {
                (
                    Path::new("audio").join(field(row, "filename")),
                    field(row, "category"),
                )
            } else {
                (PathBuf::from(field(row, "path")), field(row, "label"))
            };
            let fold = fold_of(row, &at)?;
            let audio = find_audio(&at, &[root.join(&rel)])?;
            Ok(Clip {
                id: rel.display().to_string(),
                audio,
                frames: Vec::new(),
                captions: Vec::new(),
                labels: vec![label.into()],
                split: if fold == test_fold {
                    Split::Test
                } else {
                    Split::Train
                },
            })
        })
        .collect()
}

/// One UrbanSound8K clip: a cut of at most 4 s from a longer Freesound recording.
#[derive(Clone, Debug)]
pub struct UrbanClip {
    pub audio: PathBuf,
    pub label: String,
    pub fold: u32,
    /// The Freesound recording it was cut from: the clips of one recording share a fold.
    pub freesound_id: String,
}

/// UrbanSound8K's layout (`path,label,fold,freesound_id`, folds written `foldN`), every clip
/// checked to exist.
pub fn import_urbansound8k(metadata: &Path) -> Result<Vec<UrbanClip>> {
    let root = metadata.parent().unwrap_or(Path::new("."));
    let csv = Csv::read(metadata, &["path", "label", "fold", "freesound_id"])?;
    csv.rows
        .iter()
        .map(|(line, row)| {
            let at = csv.at(*line);
            let fold = fold_of(row, &at)?;
            let freesound_id = field(row, "freesound_id");
            if freesound_id.is_empty() {
                bail!("{at}: no freesound_id");
            }
            Ok(UrbanClip {
                audio: find_audio(&at, &[root.join(field(row, "path"))])?,
                label: field(row, "label").into(),
                fold,
                freesound_id: freesound_id.into(),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct CavMaeList {
    data: Vec<CavMaeEntry>,
}

#[derive(Deserialize)]
struct CavMaeEntry {
    wav: PathBuf,
    #[serde(default)]
    video_id: Option<String>,
    #[serde(default)]
    video_path: Option<PathBuf>,
    labels: String,
}

/// CAV-MAE / AudioSet style: `{"data": [{"wav", "video_id", "video_path", "labels"}]}` with
/// comma-separated label ids, mapped to names through `label_csv` (`index,mid,display_name`);
/// frames are the images in `video_path` (a directory), sorted by name.
pub fn import_cavmae(json: &Path, label_csv: &Path, split: Split) -> Result<Vec<Clip>> {
    let labels = Csv::read(label_csv, &["mid", "display_name"])?;
    let names: HashMap<&str, &str> = labels
        .rows
        .iter()
        .map(|(_, r)| (field(r, "mid"), field(r, "display_name")))
        .collect();
    let text =
        std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?;
    let list: CavMaeList = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a CAV-MAE data list", json.display()))?;
    let base = json.parent().unwrap_or(Path::new("."));
    list.data
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let at = format!("{} entry {}", json.display(), i + 1);
            let audio = find_audio(&at, &[resolve(base, &e.wav)])?;
            let labels = e
                .labels
                .split(',')
                .filter(|m| !m.is_empty())
                .map(|m| {
                    names.get(m).map(|n| n.to_string()).with_context(|| {
                        format!("{at}: unknown label {m:?} (not in {})", label_csv.display())
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let frames = match &e.video_path {
                Some(dir) => image_files(&resolve(base, dir)).with_context(|| at.clone())?,
                None => Vec::new(),
            };
            Ok(Clip {
                id: e.video_id.unwrap_or_else(|| e.wav.display().to_string()),
                audio,
                frames,
                captions: Vec::new(),
                labels,
                split,
            })
        })
        .collect()
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut images: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("frames directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    images.sort();
    Ok(images)
}

/// Every audio file (WAV, FLAC, Ogg, MP3) under `dir`, recursively, sorted; ids are the paths
/// relative to `dir`.
pub fn import_folder(dir: &Path, split: Split) -> Result<Vec<Clip>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "wav" | "flac" | "ogg" | "mp3"
                )
            }) {
                files.push(path);
            }
        }
    }
    if files.is_empty() {
        bail!("{}: no audio files (WAV, FLAC, Ogg, MP3)", dir.display());
    }
    files.sort();
    Ok(files
        .into_iter()
        .map(|audio| Clip {
            id: audio
                .strip_prefix(dir)
                .unwrap_or(&audio)
                .display()
                .to_string(),
            audio,
            frames: Vec::new(),
            captions: Vec::new(),
            labels: Vec::new(),
            split,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Creates each of `files` under `dir` (four bytes: the importers only list paths), making
    /// its folders.
    fn touch(dir: &Path, files: &[&str]) {
        for file in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"RIFF").unwrap();
        }
    }

    fn err(r: Result<impl Sized>) -> String {
        format!("{:#}", r.err().expect("should fail"))
    }

    #[test]
    fn a_manifest_round_trips_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(d, &["audio/a.wav", "audio/b.wav"]);
        let clips = import_folder(&d.join("audio"), Split::Train).unwrap();
        assert_eq!(clips.len(), 2);
        let path = d.join("m.jsonl");
        write_manifest(&path, &clips).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"audio\":\"audio/a.wav\""), "{text}");
        assert!(err(write_manifest(&path, &clips)).contains("exists"));
        let read = Manifest::read(&path, None).unwrap();
        assert_eq!(read.clips.len(), 2);
        assert!(read.clips[0].audio.is_file());

        let bad = d.join("bad.jsonl");
        let lines = [
            "{\"id\":\"a\",\"audio\":\"audio/a.wav\",\"split\":\"train\"}",
            "{\"id\":\"b\",\"audio\":\"audio/b.wav\",\"split\":\"holdout\"}",
        ];
        std::fs::write(&bad, lines.join("\n")).unwrap();
        let e = err(Manifest::read(&bad, None));
        assert!(e.contains("bad.jsonl:2: not a clip"), "{e}");

        std::fs::write(
            &bad,
            "{\"id\":\"a\",\"audio\":\"audio/none.wav\",\"split\":\"test\"}",
        )
        .unwrap();
        let e = err(Manifest::read(&bad, None));
        assert!(
            e.contains("bad.jsonl:1: audio file") && e.contains("none.wav does not exist"),
            "{e}"
        );

        std::fs::write(
            &bad,
            "{\"id\":\"a\",\"audio\":\"audio/a.wav\",\"split\":\"test\",\"labels\":[\"Dog_bark\",\"Unicorn\"]}",
        )
        .unwrap();
        let known: HashSet<String> = ["Dog_bark".to_string()].into();
        let e = err(Manifest::read(&bad, Some(&known)));
        assert!(e.contains("bad.jsonl:1: unknown label \"Unicorn\""), "{e}");

        std::fs::write(&bad, [lines[0], lines[0]].join("\n")).unwrap();
        let e = err(Manifest::read(&bad, None));
        assert!(
            e.contains("bad.jsonl:2: id \"a\" is already used on line 1"),
            "{e}"
        );
    }

    #[test]
    fn importers_read_the_public_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(d, &["wav/abc.wav", "wav/Yxyz.wav"]);
        let csv = d.join("val.csv");
        std::fs::write(
            &csv,
            "audiocap_id,youtube_id,start_time,caption\r\n1,abc,30,A dog barks\r\n2,abc,30,\"Barking, then rain\"\r\n3,xyz,0,Wind\r\n",
        )
        .unwrap();
        let clips = import_audiocaps(&csv, &d.join("wav"), Split::Val).unwrap();
        assert_eq!(clips.len(), 2);
        assert_eq!(clips[0].captions, ["A dog barks", "Barking, then rain"]);
        for end in ["\n", "\r\n"] {
            let text = [
                "audiocap_id,youtube_id,start_time,caption",
                "1,abc,0,x",
                "2,nope,0,x",
                "",
            ];
            std::fs::write(&csv, text.join(end)).unwrap();
            let e = err(import_audiocaps(&csv, &d.join("wav"), Split::Val));
            assert!(
                e.contains("val.csv:3: no audio file") && e.contains("nope.wav"),
                "{e}"
            );
        }

        let clotho = d.join("clotho.csv");
        std::fs::write(&clotho, "file_name,caption_1,caption_2\nabc.wav,one,two\n").unwrap();
        let clips = import_clotho(&clotho, &d.join("wav"), Split::Test).unwrap();
        assert_eq!(clips[0].captions, ["one", "two"]);
        std::fs::write(&clotho, "name,caption\nabc.wav,one\n").unwrap();
        let e = err(import_clotho(&clotho, &d.join("wav"), Split::Test));
        assert!(e.contains("clotho.csv:1: no column \"file_name\""), "{e}");

        touch(d, &["esc/audio/1-1-A.ogg", "esc/audio/5-1-A.ogg"]);
        let meta = d.join("esc/metadata.csv");
        // `text` as the metadata, imported with fold 5 as the test split.
        let esc = |text: &str| {
            std::fs::write(&meta, text).unwrap();
            import_esc(&meta, 5)
        };
        let clips = esc(
            "filename,fold,target,category,esc10,src_file,take\n1-1-A.ogg,1,0,dog,True,1,A\n5-1-A.ogg,5,0,dog,True,1,A\n",
        )
        .unwrap();
        assert_eq!(
            (clips[0].split, clips[1].split),
            (Split::Train, Split::Test)
        );
        assert_eq!(clips[1].labels, ["dog"]);
        let e = err(esc("filename,fold,target,category\n1-1-A.ogg,one,0,dog\n"));
        assert!(
            e.contains("metadata.csv:2: fold \"one\" is not a number"),
            "{e}"
        );
        // UrbanSound8K names its folds `foldN`.
        let clips =
            esc("path,label,fold\naudio/1-1-A.ogg,siren,fold1\naudio/5-1-A.ogg,siren,fold5\n")
                .unwrap();
        assert_eq!(
            (clips[0].split, clips[1].split),
            (Split::Train, Split::Test)
        );

        touch(d, &["frames/v1/0001.jpg", "frames/v1/0000.jpg"]);
        let labels = d.join("labels.csv");
        std::fs::write(&labels, "index,mid,display_name\n0,/m/0bt9lr,Dog\n").unwrap();
        let json = d.join("data.json");
        std::fs::write(
            &json,
            r#"{"data": [{"wav": "wav/abc.wav", "video_id": "v1", "video_path": "frames/v1", "labels": "/m/0bt9lr"}]}"#,
        )
        .unwrap();
        let clips = import_cavmae(&json, &labels, Split::Train).unwrap();
        assert_eq!(clips[0].labels, ["Dog"]);
        assert!(clips[0].frames[0].ends_with("0000.jpg"));
        std::fs::write(
            &json,
            r#"{"data": [{"wav": "wav/abc.wav", "labels": "/m/0bt9lr,/m/unknown"}]}"#,
        )
        .unwrap();
        let e = err(import_cavmae(&json, &labels, Split::Train));
        assert!(
            e.contains("data.json entry 1: unknown label \"/m/unknown\""),
            "{e}"
        );
    }
}
