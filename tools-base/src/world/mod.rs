//! The miniature audio-visual world: scenes of 1-3 sound sources, some seen and
//! heard, some seen but silent, some heard but off-screen, mixed over real background
//! recordings, each with what is heard (audio captions) and what is seen (visual captions).
//!
//! Sources are real recordings found in a sources directory (ESC-10 by label, OpenSFX by title,
//! GCompris by file name; comic effects skipped) and sounds synthesized from their
//! specifications ([`synth`]). Splits are held out by recording: a recording heard in a test
//! scene never appears in a training scene. Everything is drawn from one seed, so a world is
//! the same bytes every time it is generated.
//!
//! Each scene has a picture ([`picture`]) of what is seen; what is heard is said with the
//! clauses human captioners use, mined from the AudioCaps and Clotho texts when the sources
//! directory has them ([`phrases`]). Speech is synthesized by espeak-ng when it is installed
//! ([`speech`]); without it the world has no speech class.
//!
//! Its parts: the class catalogue ([`classes`]), finding the recordings of a sources directory
//! (`sources`), what a scene is (`scene`), drawing scenes (`draw`) and writing their captions
//! (`captions`), mixing their audio (`audio`), and opening a world and writing it out
//! (`write`). The world uses the clip manifest ([`crate::data`]), caption tokens and corpora
//! ([`crate::score::metrics`], [`crate::text::vocab`]) and the runtime's audio; it never uses evaluation
//! ([`crate::score::eval`]), which reads the class catalogue from [`classes`].

pub mod classes;
pub mod phrases;
pub mod picture;
pub mod speech;
pub mod synth;

mod audio;
mod captions;
mod draw;
mod scene;
mod sources;
mod write;

pub use audio::render;
pub use classes::{class_named, class_of_esc_label, SourceClass, CLASSES, SILENCE};
pub use draw::{draw_scenes, picture_scenes};
pub use scene::{Placed, Role, Scene, RATE, SCENE_SECONDS};
pub use sources::{catalog, split_of, Recording, Sound};
pub use write::{generate, World, WorldShape, WorldStats, HELD_OUT_FILE};
