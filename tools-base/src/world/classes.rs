//! The class catalogue: every kind of source the world knows, how it is heard and seen in
//! words and the words that name it, and the label of silence. It uses nothing of the rest of
//! the world or of evaluation, so that both can read it: the world draws and captions scenes
//! from it, evaluation reads a caption's sources back through it.

/// The label of a scene, or an evaluated clip, in which nothing is heard.
pub const SILENCE: &str = "silence";

/// A kind of source: how it is heard and seen in words, and the words that name it (no other
/// class's phrases use them, so a caption's sources can be read back from it).
pub struct SourceClass {
    pub name: &'static str,
    pub heard: &'static [&'static str],
    /// Without colour or size words: the picture varies both from scene to scene.
    pub seen: &'static [&'static str],
    pub names: &'static [&'static str],
}

const fn class(
    name: &'static str,
    heard: &'static [&'static str],
    seen: &'static [&'static str],
    names: &'static [&'static str],
) -> SourceClass {
    SourceClass {
        name,
        heard,
        seen,
        names,
    }
}

pub const CLASSES: &[SourceClass] = &[
    class(
        "dog_bark",
        &["a dog barks", "a dog is barking", "a dog barking loudly"],
        &["a dog", "the dog", "a dog outdoors"],
        &["dog"],
    ),
    class(
        "baby_cry",
        &["a baby cries", "a baby is crying", "a baby wails"],
        &["a baby", "a baby in a crib"],
        &["baby"],
    ),
    class(
        "chainsaw",
        &[
            "a chainsaw runs",
            "a chainsaw is cutting wood",
            "a chainsaw buzzes",
        ],
        &["a chainsaw", "a chainsaw on a log"],
        &["chainsaw"],
    ),
    class(
        "clock_tick",
        &["a clock ticks", "a clock is ticking steadily"],
        &["a clock", "a wall clock"],
        &["clock"],
    ),
    class(
        "fire_crackling",
        &[
            "a fire crackles",
            "a campfire is crackling",
            "wood crackles in a fireplace",
        ],
        &["a campfire", "a fireplace"],
        &["fire", "campfire", "fireplace"],
    ),
    class(
        "helicopter",
        &["a helicopter flies overhead", "a helicopter hovers nearby"],
        &["a helicopter", "a helicopter in the sky"],
        &["helicopter"],
    ),
    class(
        "rain",
        &[
            "rain falls",
            "rain is falling steadily",
            "heavy rain pours down",
        ],
        &["rain on a window", "a rainy street"],
        &["rain", "rainy"],
    ),
    class(
        "rooster",
        &["a rooster crows", "a rooster is crowing"],
        &["a rooster", "a rooster on a fence"],
        &["rooster"],
    ),
    class(
        "sea_waves",
        &["waves crash on the shore", "ocean waves roll in"],
        &["ocean waves", "waves on a beach"],
        &["waves", "ocean"],
    ),
    class(
        "sneezing",
        &["a loud sneeze", "a sneeze", "sneezing"],
        &["a box of tissues"],
        &["sneeze", "sneezing", "tissues"],
    ),
    class(
        "speech",
        &[
            "a person speaks",
            "someone is talking",
            "a person is speaking",
        ],
        &["a person", "a person standing"],
        &["person", "someone"],
    ),
    class(
        "applause",
        &["a crowd applauds", "an audience claps and cheers"],
        &["a crowd", "an audience in a hall"],
        &["crowd", "audience"],
    ),
    class(
        "train",
        &["a train passes by", "a train rumbles along the tracks"],
        &["a train", "a train at a station"],
        &["train"],
    ),
    class(
        "door",
        &["a door opens", "a door slams shut", "a door creaks open"],
        &["a door", "a wooden door"],
        &["door"],
    ),
    class(
        "wind",
        &["wind blows", "strong wind gusts"],
        &["a windswept field"],
        &["wind", "windswept"],
    ),
    class(
        "horse",
        &["a horse neighs", "a horse is neighing"],
        &["a horse", "a horse in a paddock"],
        &["horse"],
    ),
    class(
        "cow",
        &["a cow moos", "a cow is mooing"],
        &["a cow", "a cow in a meadow"],
        &["cow"],
    ),
    class(
        "sheep",
        &["a sheep bleats", "sheep are bleating"],
        &["a sheep", "sheep on a hill"],
        &["sheep"],
    ),
    class(
        "jackhammer",
        &["a jackhammer pounds", "a jackhammer drills into concrete"],
        &["a jackhammer", "a worker with a jackhammer"],
        &["jackhammer"],
    ),
    class(
        "airplane",
        &["a jet takes off", "an airplane roars overhead"],
        &["an airplane", "a jet on a runway"],
        &["jet", "airplane"],
    ),
    class(
        "bird",
        &["a bird chirps", "a bird is singing"],
        &["a bird", "a bird on a branch"],
        &["bird"],
    ),
    class(
        "smoke_alarm",
        &["a smoke alarm beeps", "a smoke detector is beeping"],
        &["a smoke detector on the ceiling"],
        &["smoke"],
    ),
    class(
        "doorbell",
        &["a doorbell rings", "the doorbell chimes"],
        &["a doorbell", "a doorbell beside a front entrance"],
        &["doorbell"],
    ),
    class(
        "phone_ring",
        &["a phone rings", "a telephone is ringing"],
        &["a phone on a table", "a telephone"],
        &["phone", "telephone"],
    ),
    class(
        "microwave_beeps",
        &["a microwave beeps", "a microwave oven beeps three times"],
        &["a microwave", "a microwave oven"],
        &["microwave"],
    ),
    class(
        "kettle_whistle",
        &["a kettle whistles", "a kettle is whistling on the stove"],
        &["a kettle on a stove", "a kettle"],
        &["kettle"],
    ),
    class(
        "car_horn",
        &["a car horn honks", "a horn blares"],
        &["a car", "a car on a street"],
        &["horn", "car"],
    ),
    // UrbanSound8K's classes that none of the above is (its dog_bark, car_horn and jackhammer
    // are the classes above).
    class(
        "air_conditioner",
        &["an air conditioner hums", "an air conditioner is humming"],
        &["an air conditioner", "an air conditioner on a wall"],
        &["conditioner"],
    ),
    class(
        "children_playing",
        &["children are playing and shouting", "kids are shouting"],
        &["children in a playground", "kids on a swing"],
        &["children", "kids"],
    ),
    class(
        "drilling",
        &["a drill whirs", "a power drill is drilling"],
        &["a power drill", "a drill on a table"],
        &["drill"],
    ),
    class(
        "engine_idling",
        &["an engine idles", "an engine is idling"],
        &["an engine", "a truck with its engine running"],
        &["engine"],
    ),
    class(
        "gun_shot",
        &["a gunshot rings out", "gunshots are fired"],
        &["a gun", "a man with a gun"],
        &["gun", "gunshot", "gunshots"],
    ),
    class(
        "siren",
        &["a siren wails", "an ambulance siren is wailing"],
        &["an ambulance", "an ambulance on a road"],
        &["siren", "ambulance"],
    ),
    class(
        "street_music",
        &["street music is playing", "a band plays on the street"],
        &["a band on a street", "a player with a guitar"],
        &["music", "band", "guitar"],
    ),
];

pub fn class_named(name: &str) -> Option<&'static SourceClass> {
    CLASSES.iter().find(|c| c.name == name)
}

/// The class of an ESC-10 / ESC-50 label: the label itself, lower-cased, or its ESC-10 spelling.
pub fn class_of_esc_label(label: &str) -> Option<&'static str> {
    match label.to_lowercase().as_str() {
        "person_sneeze" => Some("sneezing"),
        other => class_named(other).map(|c| c.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::synth;

    #[test]
    fn class_names_are_unique_to_their_class() {
        for c in CLASSES {
            for phrase in c.heard.iter().chain(c.seen) {
                let tokens = format!(" {} ", crate::text::tokenize(phrase));
                assert!(
                    c.names.iter().any(|n| tokens.contains(&format!(" {n} "))),
                    "{}: {phrase:?} does not name it",
                    c.name
                );
                for other in CLASSES.iter().filter(|o| o.name != c.name) {
                    for n in other.names {
                        assert!(
                            !tokens.contains(&format!(" {n} ")),
                            "{}: {phrase:?} names {}",
                            c.name,
                            other.name
                        );
                    }
                }
            }
        }
        for s in synth::CLASSES {
            assert!(class_named(s).is_some(), "{s}");
        }
    }

    #[test]
    fn every_esc10_label_is_a_class() {
        for label in [
            "Baby_cry",
            "Chainsaw",
            "Clock_tick",
            "Dog_bark",
            "Fire_crackling",
            "Helicopter",
            "Person_sneeze",
            "Rain",
            "Rooster",
            "Sea_waves",
        ] {
            assert!(class_of_esc_label(label).is_some(), "{label}");
        }
    }
}
