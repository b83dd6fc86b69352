//! The picture of a scene: a procedural image of its visible sources over a background of its
//! setting. Each class has its own depiction (a shape, a pattern and a hue family), varied per
//! scene in position, size and colour, so that what is seen can be learnt from pixels and
//! nothing that is only heard is drawn.

use std::f32::consts::PI;
use std::path::Path;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::classes::CLASSES;
use super::scene::Scene;

/// Side of the square pictures, in pixels.
pub const SIZE: usize = 64;

#[derive(Clone, Copy)]
enum Shape {
    Disc,
    Square,
    Triangle,
    Ring,
    Cross,
    Diamond,
}

#[derive(Clone, Copy)]
enum Pattern {
    Plain,
    Stripes,
    Dots,
    Checks,
    Rings,
    Grid,
}

/// The depiction of the class at `index` in [`CLASSES`]: every class a different
/// (shape, pattern) pair, and hues spread around the wheel.
fn depiction(index: usize) -> (Shape, Pattern, f32) {
    const SHAPES: [Shape; 6] = [
        Shape::Disc,
        Shape::Square,
        Shape::Triangle,
        Shape::Ring,
        Shape::Cross,
        Shape::Diamond,
    ];
    const PATTERNS: [Pattern; 6] = [
        Pattern::Plain,
        Pattern::Stripes,
        Pattern::Dots,
        Pattern::Checks,
        Pattern::Rings,
        Pattern::Grid,
    ];
    let hue = (index as f32 * 0.618_034).fract();
    (SHAPES[index % 6], PATTERNS[(index / 6) % 6], hue)
}

fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    match i as i32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// Whether the point (x, y), in units of the shape's radius around its centre, is inside.
fn inside(shape: Shape, x: f32, y: f32) -> bool {
    match shape {
        Shape::Disc => x * x + y * y <= 1.0,
        Shape::Square => x.abs() <= 0.85 && y.abs() <= 0.85,
        Shape::Triangle => y <= 0.8 && y >= -1.0 + 1.8 * x.abs(),
        Shape::Ring => (0.45..=1.0).contains(&(x * x + y * y).sqrt()),
        Shape::Cross => (x.abs() <= 0.3 && y.abs() <= 1.0) || (y.abs() <= 0.3 && x.abs() <= 1.0),
        Shape::Diamond => x.abs() + y.abs() <= 1.0,
    }
}

/// Whether the pattern darkens the point (x, y) of the shape.
fn marked(pattern: Pattern, x: f32, y: f32) -> bool {
    match pattern {
        Pattern::Plain => false,
        Pattern::Stripes => ((x + y) * 4.0).rem_euclid(2.0) < 1.0,
        Pattern::Dots => {
            let (u, v) = (
                (x * 3.0).rem_euclid(1.0) - 0.5,
                (y * 3.0).rem_euclid(1.0) - 0.5,
            );
            u * u + v * v < 0.06
        }
        Pattern::Checks => ((x * 3.0).floor() + (y * 3.0).floor()).rem_euclid(2.0) < 1.0,
        Pattern::Rings => ((x * x + y * y).sqrt() * 5.0).rem_euclid(2.0) < 1.0,
        Pattern::Grid => (x * 4.0).rem_euclid(1.0) < 0.25 || (y * 4.0).rem_euclid(1.0) < 0.25,
    }
}

/// Renders a scene's picture as RGB bytes, `SIZE` x `SIZE`, row-major.
pub fn render(scene: &Scene, seed: u64) -> Vec<u8> {
    render_variant(scene, seed, 0)
}

/// Another picture of the same scene: the same sources in the same setting, drawn at other
/// positions, sizes, tilts and shades. Variant 0 is [`render`]'s picture. More pictures of what
/// a scene shows are what keeps the captioner from learning its training pictures by heart.
pub fn render_variant(scene: &Scene, seed: u64, variant: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ super::sources::hash_id(&scene.id)
            ^ 0x0914_70e5
            ^ variant.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    // The setting: a sky over ground, both coloured by the background recording, so that the
    // same place looks alike across scenes.
    let place = super::sources::hash_id(&scene.background);
    let sky_hue = 0.5 + (place % 100) as f32 / 600.0;
    let ground_hue = 0.2 + ((place / 100) % 100) as f32 / 800.0;
    let horizon = rng.random_range(0.45..0.65) * SIZE as f32;
    let mut pixels = vec![[0f32; 3]; SIZE * SIZE];
    for (i, p) in pixels.iter_mut().enumerate() {
        let y = (i / SIZE) as f32;
        *p = if y < horizon {
            hsv(sky_hue, 0.35, 0.95 - 0.3 * y / horizon)
        } else {
            hsv(
                ground_hue,
                0.5,
                0.55 - 0.2 * (y - horizon) / (SIZE as f32 - horizon),
            )
        };
    }
    for placed in scene.sources.iter().filter(|s| s.role.seen()) {
        let index = CLASSES
            .iter()
            .position(|c| c.name == placed.class)
            .expect("placed classes exist");
        let (shape, pattern, hue) = depiction(index);
        let hue = (hue + rng.random_range(-0.04..0.04)).rem_euclid(1.0);
        let colour = hsv(hue, rng.random_range(0.6..0.9), rng.random_range(0.7..1.0));
        let radius = rng.random_range(0.12..0.22) * SIZE as f32;
        let (cx, cy) = (
            rng.random_range(radius..SIZE as f32 - radius),
            rng.random_range(radius..SIZE as f32 - radius),
        );
        let tilt = rng.random_range(-0.3..0.3f32) * PI / 4.0;
        let (sin, cos) = tilt.sin_cos();
        for (i, p) in pixels.iter_mut().enumerate() {
            let (dx, dy) = (
                ((i % SIZE) as f32 - cx) / radius,
                ((i / SIZE) as f32 - cy) / radius,
            );
            let (x, y) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            if inside(shape, x, y) {
                let shade = if marked(pattern, x, y) { 0.45 } else { 1.0 };
                *p = colour.map(|c| c * shade);
            }
        }
    }
    pixels
        .iter()
        .flat_map(|p| p.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8))
        .collect()
}

/// Writes RGB bytes from [`render`] as a PNG file.
pub fn write_png(path: &Path, rgb: &[u8]) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), SIZE as u32, SIZE as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .write_image_data(rgb)
        .with_context(|| format!("writing {}", path.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use crate::world::{Placed, Role};

    fn scene(sources: Vec<Placed>) -> Scene {
        Scene {
            id: "scene_00001".into(),
            split: Split::Train,
            sources,
            background: "scikit-maad-soundscapes/dawn.ogg".into(),
            background_db: -40.0,
            audio_captions: Vec::new(),
            visual_captions: Vec::new(),
        }
    }

    fn placed(class: &'static str, role: Role) -> Placed {
        Placed {
            recording: format!("{class}/1"),
            class,
            role,
            onset: 1.0,
            level_db: -20.0,
        }
    }

    #[test]
    fn only_what_is_seen_is_drawn() {
        let dog = placed("dog_bark", Role::SeenAndHeard);
        let rain = placed("rain", Role::HeardOffscreen);
        let with_rain = render(&scene(vec![dog.clone(), rain]), 3);
        assert_eq!(with_rain, render(&scene(vec![dog.clone()]), 3));
        assert_ne!(with_rain, render(&scene(Vec::new()), 3), "the dog is drawn");
        let silent_dog = placed("dog_bark", Role::SeenSilent);
        assert_eq!(
            render(&scene(vec![silent_dog]), 3),
            render(&scene(vec![dog]), 3)
        );
        assert_eq!(with_rain.len(), SIZE * SIZE * 3);
    }

    #[test]
    fn variants_are_other_pictures_of_what_the_scene_shows() {
        let dog = placed("dog_bark", Role::SeenAndHeard);
        let rain = placed("rain", Role::HeardOffscreen);
        let shown = scene(vec![dog.clone()]);
        assert_eq!(render_variant(&shown, 3, 0), render(&shown, 3));
        let other = render_variant(&shown, 3, 1);
        assert_ne!(other, render(&shown, 3));
        assert_ne!(other, render_variant(&shown, 3, 2));
        assert_eq!(other, render_variant(&scene(vec![dog, rain]), 3, 1));
        assert_ne!(other, render_variant(&scene(Vec::new()), 3, 1));
    }

    #[test]
    fn every_class_has_its_own_depiction() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..CLASSES.len() {
            let (shape, pattern, _) = depiction(i);
            assert!(
                seen.insert((shape as u8, pattern as u8)),
                "class {i} repeats a depiction"
            );
        }
    }
}
