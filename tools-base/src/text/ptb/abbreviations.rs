//! The word lists of the abbreviation and sentence-end classes.

/// Abbreviations usually followed by a lower-case word (months, days, states, companies).
pub(super) const ABBREVIATIONS_BEFORE_LOWER: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec", "Mon",
    "Tue", "Tues", "Wed", "Thu", "Thurs", "Fri", "Ala", "Ariz", "Calif", "Colo", "Conn", "Ct",
    "Dak", "Fla", "Ga", "Ind", "Kan", "Kans", "Ky", "Md", "Mich", "Minn", "Mo", "Mont", "Neb",
    "Nev", "Okla", "Penn", "Tenn", "Va", "Vt", "Wis", "Wisc", "Wyo", "Inc", "Co", "Cos", "Corp",
    "Pte", "Pty", "Ptes", "Ptys", "Ppte", "Ppty", "Pptes", "Pptys", "Ltd", "Plc", "Rt", "Bancorp",
    "Bhd", "Assn", "Univ", "Intl", "Sys", "tel", "est", "ext", "sq", "Jr", "Sr", "Bros", "Ed.D",
    "Ph.D", "Blvd", "Rd", "Esq", "etc", "al", "seq", "Bldg",
];
/// Of those, the ones whose capital is required (they are common words otherwise).
pub(super) const CAPITALIZED_BEFORE_LOWER: &[&str] = &[
    "Az", "Ark", "Del", "Ill", "La", "Mass", "Miss", "Ore", "Pa", "Tex", "Wash",
];
/// Abbreviations usually followed by a capitalized word (titles and the like).
pub(super) const ABBREVIATIONS_BEFORE_UPPER: &[&str] = &[
    "Mr", "Mrs", "Ms", "Dr", "Drs", "Prof", "Profs", "Sen", "Sens", "Rep", "Reps", "Atty", "Attys",
    "Lt", "Col", "Gen", "Messrs", "Gov", "Govs", "Adm", "Rev", "Maj", "Sgt", "Cpl", "Pvt", "Capt",
    "St", "Ste", "Ave", "Pres", "Lieut", "Hon", "Brig", "Cmdr", "Comdr", "Pfc", "Spc", "Supt",
    "Supts", "Det", "Mt", "Ft", "Adj", "Adv", "Asst", "Assoc", "Ens", "Insp", "Mlle", "Mme",
    "Msgr", "Sfc", "vs", "Alex", "Wm", "Jos", "Cie", "a.k.a", "cf", "TREAS", "Ph", "Invt", "Elec",
    "Natl", "Mfg", "Mtg", "Dept",
];
/// Abbreviations that keep their period before a number (`no. 5`, `fig. 3`).
pub(super) const ABBREVIATIONS_BEFORE_NUMBER: &[&str] = &[
    "ca", "fig", "figs", "prop", "no", "nos", "art", "bldg", "pp", "op",
];
/// Words that start a new sentence after an acronym with a period.
pub(super) const SENTENCE_STARTS: &[&str] = &[
    "About",
    "According",
    "Additionally",
    "After",
    "An",
    "A",
    "As",
    "At",
    "But",
    "Earlier",
    "He",
    "Her",
    "Here",
    "However",
    "If",
    "In",
    "It",
    "Last",
    "Many",
    "More",
    "Mr.",
    "Ms.",
    "Now",
    "Once",
    "One",
    "Other",
    "Our",
    "She",
    "Since",
    "So",
    "Some",
    "Such",
    "That",
    "The",
    "Their",
    "Then",
    "There",
    "These",
    "They",
    "This",
    "We",
    "When",
    "While",
    "What",
    "Yet",
    "You",
];
