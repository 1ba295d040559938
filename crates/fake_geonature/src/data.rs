//! Deterministic synthetic Synthese rows in the two GN2PG view shapes.
//!
//! Nothing is stored: every value is computed from `(seed, id_synthese, version)`, so a source of
//! 1,000,000 rows starts instantly and costs no memory. Mutations only record a row's version and
//! its `derniere_action` (see `store.rs`).

use chrono::{Duration, NaiveDate, NaiveDateTime};
use gn_protocol::query::ColumnKind;
use gn_protocol::WireValue;
use serde_json::{json, Value};

/// The two export view shapes of GN2PG's sample views (`data_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `synthese_with_cd_nomenclature`: flat `ca_uuid/ca_nom/jdd_uuid/jdd_nom/jdd_acteurs`.
    CdNomenclature,
    /// `synthese_with_metadata`: `ca_data`/`jdd_data` objects and `area_attachment`.
    Metadata,
}

const CDN: u8 = 1;
const META: u8 = 2;
const BOTH: u8 = CDN | META;

/// Every column either view shape can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    IdSynthese,
    IdSource,
    IdPermSinp,
    IdPermGrpSinp,
    DateDebut,
    DateFin,
    CdNom,
    VersionTaxref,
    NomCite,
    NombreMin,
    NombreMax,
    AltitudeMin,
    AltitudeMax,
    ProfondeurMin,
    ProfondeurMax,
    Observateurs,
    Determinateur,
    Validateur,
    NumeroPreuve,
    PreuveNumerique,
    PreuveNonNumerique,
    CommentReleve,
    CommentOccurrence,
    ReferenceBiblio,
    CodeHabitat,
    Habitat,
    NomLieu,
    Precision,
    DonneesAdditionnelles,
    Wkt4326,
    Nomenclature(usize),
    /// `type_info_geo` of a shape without `area_attachment` (always '1', Géoréférencement).
    TypeInfoGeoWithoutAttachment,
    MethodeRegroupement,
    DerniereAction,
    CaUuid,
    CaNom,
    JddUuid,
    JddNom,
    JddActeurs,
    CaData,
    JddData,
    AreaAttachment,
}

/// Nomenclature columns, served as `cd_nomenclature` codes, with the codes they draw from.
pub const NOMENCLATURES: &[(&str, &[&str])] = &[
    ("nature_objet_geo", &["St", "In", "NSP"]),
    ("type_regroupement", &["OBS", "PASS", "REL", "NSP"]),
    ("comportement", &["0", "1", "2", "3", "4"]),
    ("technique_obs", &["0", "1", "2", "21", "25"]),
    ("statut_biologique", &["0", "1", "2", "3", "5"]),
    ("etat_biologique", &["0", "1", "2", "3"]),
    ("naturalite", &["0", "1", "2"]),
    ("preuve_existante", &["0", "1", "2", "3"]),
    ("precision_diffusion", &["0", "1", "2", "3", "4", "5"]),
    ("stade_vie", &["0", "1", "2", "3", "4", "5", "10"]),
    ("sexe", &["0", "1", "2", "3", "4", "5", "6"]),
    ("objet_denombrement", &["COL", "CPL", "HAM", "IND", "NID", "NSP"]),
    ("type_denombrement", &["Co", "Es", "Ca", "NSP"]),
    ("niveau_sensibilite", &["0", "1", "2", "3", "4"]),
    ("statut_observation", &["Pr", "No", "NSP"]),
    ("floutage_dee", &["OUI", "NON"]),
    ("statut_source", &["Te", "Co", "Li", "NSP"]),
    ("type_info_geo", &["1", "2"]),
    // METH_DETERMIN has no code '0' (1–22 in GeoNature 2.17).
    ("methode_determination", &["1", "2", "17", "18"]),
    ("statut_validation", &["0", "1", "2", "3", "4", "5", "6"]),
];

#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub name: &'static str,
    pub col: Col,
    pub kind: ColumnKind,
    shapes: u8,
}

const fn def(name: &'static str, col: Col, kind: ColumnKind, shapes: u8) -> ColumnDef {
    ColumnDef {
        name,
        col,
        kind,
        shapes,
    }
}

use ColumnKind as K;
const FIXED_COLUMNS: &[ColumnDef] = &[
    def("id_synthese", Col::IdSynthese, K::Integer, BOTH),
    def("id_source", Col::IdSource, K::Varchar, BOTH),
    def("id_perm_sinp", Col::IdPermSinp, K::Uuid, BOTH),
    def("id_perm_grp_sinp", Col::IdPermGrpSinp, K::Uuid, BOTH),
    def("date_debut", Col::DateDebut, K::Timestamp, BOTH),
    def("date_fin", Col::DateFin, K::Timestamp, BOTH),
    def("cd_nom", Col::CdNom, K::Integer, BOTH),
    def("version_taxref", Col::VersionTaxref, K::Varchar, BOTH),
    def("nom_cite", Col::NomCite, K::Varchar, BOTH),
    def("nombre_min", Col::NombreMin, K::Integer, BOTH),
    def("nombre_max", Col::NombreMax, K::Integer, BOTH),
    def("altitude_min", Col::AltitudeMin, K::Integer, BOTH),
    def("altitude_max", Col::AltitudeMax, K::Integer, BOTH),
    def("profondeur_min", Col::ProfondeurMin, K::Integer, BOTH),
    def("profondeur_max", Col::ProfondeurMax, K::Integer, BOTH),
    def("observateurs", Col::Observateurs, K::Varchar, BOTH),
    def("determinateur", Col::Determinateur, K::Text, BOTH),
    def("validateur", Col::Validateur, K::Text, BOTH),
    def("numero_preuve", Col::NumeroPreuve, K::Text, BOTH),
    def("preuve_numerique", Col::PreuveNumerique, K::Text, BOTH),
    def("preuve_non_numerique", Col::PreuveNonNumerique, K::Text, BOTH),
    def("comment_releve", Col::CommentReleve, K::Text, BOTH),
    def("comment_occurrence", Col::CommentOccurrence, K::Text, BOTH),
    def("reference_biblio", Col::ReferenceBiblio, K::Text, BOTH),
    def("code_habitat", Col::CodeHabitat, K::Text, BOTH),
    def("habitat", Col::Habitat, K::Text, BOTH),
    def("nom_lieu", Col::NomLieu, K::Text, BOTH),
    def("precision", Col::Precision, K::Integer, BOTH),
    def("donnees_additionnelles", Col::DonneesAdditionnelles, K::Json, BOTH),
    def("wkt_4326", Col::Wkt4326, K::Text, BOTH),
    def("methode_regroupement", Col::MethodeRegroupement, K::Text, BOTH),
    def("derniere_action", Col::DerniereAction, K::Timestamp, BOTH),
    def("ca_uuid", Col::CaUuid, K::Uuid, CDN),
    def("ca_nom", Col::CaNom, K::Text, CDN),
    def("jdd_uuid", Col::JddUuid, K::Uuid, CDN),
    def("jdd_nom", Col::JddNom, K::Text, CDN),
    def("jdd_acteurs", Col::JddActeurs, K::Text, CDN),
    def("ca_data", Col::CaData, K::Json, META),
    def("jdd_data", Col::JddData, K::Json, META),
    def("area_attachment", Col::AreaAttachment, K::Json, META),
];

/// The columns of a view shape, sorted by name (the order GeoNature serialises them in).
pub fn columns(shape: Shape) -> Vec<ColumnDef> {
    let bit = match shape {
        Shape::CdNomenclature => CDN,
        Shape::Metadata => META,
    };
    let mut cols: Vec<ColumnDef> = FIXED_COLUMNS.iter().copied().filter(|c| c.shapes & bit != 0).collect();
    for (i, (name, _)) in NOMENCLATURES.iter().enumerate() {
        // TYP_INF_GEO '2' (Rattachement) needs an area attachment, which only the metadata shape has.
        let col = if *name == "type_info_geo" && shape == Shape::CdNomenclature {
            Col::TypeInfoGeoWithoutAttachment
        } else {
            Col::Nomenclature(i)
        };
        cols.push(def(name, col, K::Text, BOTH));
    }
    cols.sort_by_key(|c| c.name);
    cols
}

/// Every `derniere_action` of the generated (unmutated) rows is before this instant, so a
/// window starting later only concerns mutated rows.
pub fn base_epoch_end() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 6, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

fn base_epoch_start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2015, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// splitmix64: a fast, well-mixed hash of the row coordinates.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const TAXA: &[(i64, &str)] = &[
    (2645, "Aquila chrysaetos (Linnaeus, 1758)"),
    (61098, "Rupicapra rupicapra (Linnaeus, 1758)"),
    (61119, "Capra ibex Linnaeus, 1758"),
    (3726, "Lagopède alpin"),
    (2840, "Épervier d'Europe"),
    (2623, "Gypaète barbu \"Gypaetus barbatus\""),
    (3420, "Tétras-lyre ; Lyrurus tetrix"),
    (61153, "Marmota marmota (Linnaeus, 1758)"),
    (92, "Salamandre tachetée"),
    (129298, "Edelweiss des Alpes"),
    (88360, "Chardon bleu, Reine des Alpes"),
    (4001, "Crapaud commun / Bufo bufo"),
];

const OBSERVERS: &[&str] = &[
    "Dupont Jean",
    "Lechémia Théo",
    "O'Brien Mary",
    "Müller Anaïs, Garcia Núñez José",
    "Équipe \"Faune\" du Parc",
    "Martin Zoé; Petit Loïc",
];

const PLACES: &[&str] = &[
    "Col du Lautaret",
    "Vallon de la Pra",
    "Lac d'Allos",
    "Refuge \"Les Bans\"",
    "Combe; versant nord",
    "Pré de Madame Carle",
];

const COMMENTS: &[&str] = &[
    "Observation à la jumelle.",
    "Relevé sous la pluie\nvent fort, visibilité réduite",
    "Individu \"bagué\" ; bague illisible",
    "Traces dans la neige,\r\nfèces à proximité",
    "RAS",
    "Tab\tseparated note",
];

/// One acquisition framework or dataset of the synthetic metadata.
pub struct MetaEntity {
    pub uuid: String,
    pub name: String,
}

pub const AF_COUNT: u64 = 3;
pub const DATASET_COUNT: u64 = 8;

/// Index of a 9th dataset that rows may reference but the metadata export does not list.
pub const MISSING_DATASET: u64 = DATASET_COUNT;

/// Rows that deliberately do not match the reference data of a GeoNature 2.17 database (the
/// fixture in `tests/fixtures/geonature/`), so that every reject path of a loader is exercised.
/// Chosen by `id_synthese % 200` (0.5 % of rows each, disjoint, independent of seed and version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// `cd_nom` [`UNKNOWN_CD_NOM`], absent from TaxRef (`id % 200 == 17`).
    UnknownCdNom,
    /// `sexe` '9', not a SEXE code (`id % 200 == 53`).
    UnknownNomenclature,
    /// Dataset [`MISSING_DATASET`], absent from the metadata export (`id % 200 == 91`).
    MissingDataset,
}

pub const UNKNOWN_CD_NOM: i64 = 99_999_999;
const UNKNOWN_TAXON_NAME: &str = "Ophrys sp. (saisie terrain, taxon non référencé)";
const UNKNOWN_SEX_CODE: &str = "9";

/// The deliberate reject of row `id`, if any.
pub fn reject_kind(id: i64) -> Option<Reject> {
    match id.rem_euclid(200) {
        17 => Some(Reject::UnknownCdNom),
        53 => Some(Reject::UnknownNomenclature),
        91 => Some(Reject::MissingDataset),
        _ => None,
    }
}

/// A uuid that depends only on an organism name (FNV-1a then splitmix64), so every framework
/// and dataset of every seed names an organism with the same `uuid_actor`.
pub fn organism_uuid(name: &str) -> String {
    let mut x: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        x = (x ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
    }
    format_uuid(mix(x ^ 0x6F72_6761), mix(x ^ 0x6E69_736D))
}

fn format_uuid(a: u64, b: u64) -> String {
    let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000; // version 4
    let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000; // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// Generates values for one seed.
#[derive(Debug, Clone, Copy)]
pub struct RowGen {
    pub seed: u64,
    /// Bumped by a mutation (`metadata_revision`): frameworks and datasets change upstream (their
    /// descriptions and the datasets' keywords say which revision they are).
    pub metadata_revision: u32,
}

/// Which version of which row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowState {
    pub id: i64,
    pub version: u32,
    pub derniere_action: NaiveDateTime,
}

impl RowGen {
    pub fn new(seed: u64) -> Self {
        RowGen {
            seed,
            metadata_revision: 0,
        }
    }

    fn h(&self, id: i64, salt: u64) -> u64 {
        mix(self.seed ^ mix((id as u64).wrapping_mul(0x1000_0000_01B3) ^ salt.wrapping_mul(0xA24B_AED4_963E_E407)))
    }

    /// A hash that also changes with the row version (fields that change on update).
    fn hv(&self, st: &RowState, salt: u64) -> u64 {
        self.h(st.id, salt ^ ((st.version as u64) << 40))
    }

    fn pick<'a>(&self, list: &'a [&'a str], h: u64) -> &'a str {
        list[(h % list.len() as u64) as usize]
    }

    pub fn uuid(&self, id: i64, salt: u64) -> String {
        format_uuid(self.h(id, salt), self.h(id, salt ^ 0x5555))
    }

    fn revision_note(&self) -> String {
        if self.metadata_revision == 0 {
            String::new()
        } else {
            format!(" (révision {})", self.metadata_revision)
        }
    }

    /// `derniere_action` of a row that was never mutated.
    pub fn base_derniere_action(&self, id: i64) -> NaiveDateTime {
        let span = (base_epoch_end() - base_epoch_start()).num_seconds() as u64 - 1;
        base_epoch_start() + Duration::seconds((self.h(id, 1) % span) as i64)
    }

    fn date_debut(&self, id: i64) -> NaiveDateTime {
        let days = self.h(id, 2) % (9 * 365);
        let secs = self.h(id, 3) % 86_400;
        base_epoch_start() + Duration::days(days as i64) + Duration::seconds(secs as i64)
    }

    pub fn dataset_index(&self, id: i64) -> u64 {
        self.h(id, 4) % DATASET_COUNT
    }

    /// The dataset a row is in: [`MISSING_DATASET`] for [`Reject::MissingDataset`] rows.
    pub fn row_dataset(&self, id: i64) -> u64 {
        if reject_kind(id) == Some(Reject::MissingDataset) {
            MISSING_DATASET
        } else {
            self.dataset_index(id)
        }
    }

    pub fn af_of_dataset(ds: u64) -> u64 {
        ds % AF_COUNT
    }

    pub fn af(&self, i: u64) -> MetaEntity {
        let names = [
            "Inventaires «faune» du Parc national",
            "Suivis flore & habitats",
            "Atlas de la biodiversité communale (ABC)",
        ];
        MetaEntity {
            uuid: self.uuid(-1 - i as i64, 77),
            name: names[(i % 3) as usize].to_string(),
        }
    }

    pub fn dataset(&self, i: u64) -> MetaEntity {
        let names = [
            "Suivi des galliformes de montagne",
            "Comptage ongulés \"printemps\"",
            "Observations opportunistes",
            "Inventaire des lacs d'altitude",
            "Flore patrimoniale; stations",
            "Réseau Loup-Lynx",
            "Chiroptères en bâti",
            "Données historiques (saisie papier)",
        ];
        let name = if i >= DATASET_COUNT {
            "Jeu de données hors export".to_string()
        } else {
            names[(i % 8) as usize].to_string()
        };
        MetaEntity {
            uuid: self.uuid(-100 - i as i64, 78),
            name,
        }
    }

    fn actor(uuid: String, role: &str, org: &str) -> Value {
        json!({
            "type_role": "organism",
            "uuid_actor": uuid,
            "cd_nomenclature_actor_role": role,
            "identity": {"organism_name": org},
            "email": "contact@example.org",
        })
    }

    /// An organism actor with the one uuid of its name.
    fn organism(role: &str, org: &str) -> Value {
        Self::actor(organism_uuid(org), role, org)
    }

    fn af_actors(&self, af: u64) -> Vec<Value> {
        let mut actors = vec![Self::organism("1", "Parc national des Écrins")];
        if af == 2 {
            // The one deliberate exception to "one uuid per organism name": a second actor of the
            // last framework names "Conservatoire d'espaces naturels" under another (seed-dependent)
            // uuid. GeoNature 2.17's UNIQUE (nom_organisme) rejects such an organism (23505) even
            // with ON CONFLICT (uuid_organisme): the organism-name reject path.
            let org = "Conservatoire d'espaces naturels";
            actors.push(Self::actor(self.uuid(-1000 - af as i64, 79), "2", org));
        }
        actors
    }

    /// The `ca_data` object of an acquisition framework (as the metadata view shape embeds it).
    pub fn ca_data(&self, af: u64) -> Value {
        let e = self.af(af);
        json!({
            "uuid": e.uuid,
            "name": e.name,
            "desc": format!("Cadre d'acquisition n°{}\nDescription « longue »{}", af + 1, self.revision_note()),
            "start_date": "2015-01-01",
            "end_date": null,
            "initial_closing_date": null,
            "territories": ["METROP"],
            "territorial_level": "3",
            "territory_desc": "Massif des Écrins",
            "objectives": ["8", "9"],
            "publications": [],
            "financing_type": "1",
            "target_description": null,
            "ecologic_or_geologic_target": "Faune vertébrée",
            "sinp_theme": ["1"],
            "actors": self.af_actors(af),
            "is_parent": false,
            "parent_uuid": null,
        })
    }

    /// The `jdd_data` object of a dataset (as the metadata view shape embeds it).
    pub fn jdd_data(&self, ds: u64) -> Value {
        let e = self.dataset(ds);
        json!({
            "uuid": e.uuid,
            "name": e.name,
            "desc": format!("Jeu de données synthétique pour gn_flux{}", self.revision_note()),
            "shortname": e.name.chars().take(30).collect::<String>(),
            "data_type": "1",
            "keywords": if self.metadata_revision == 0 { "faune, montagne".to_string() } else { format!("faune, montagne, révision {}", self.metadata_revision) },
            "marine_domain": false,
            "terrestrial_domain": true,
            "collecting_method": "1",
            "protocols": null,
            "data_origin": "Pu",
            "dataset_objectif": "1.1",
            "resource_type": "1",
            "source_status": "Te",
            "territories": ["METROP"],
            "actors": [Self::organism("1", "Conservatoire d'espaces naturels")],
        })
    }

    /// One item of the separate metadata export: the acquisition framework `af` (its `ca_data`
    /// fields, the integer pk `id_acquisition_framework` = af + 1) with the `jdd_data` of its
    /// datasets in `datasets`.
    pub fn af_export_item(&self, af: u64) -> Value {
        let mut item = self.ca_data(af);
        let datasets: Vec<Value> = (0..DATASET_COUNT)
            .filter(|ds| Self::af_of_dataset(*ds) == af)
            .map(|ds| self.jdd_data(ds))
            .collect();
        if let Value::Object(m) = &mut item {
            m.insert("id_acquisition_framework".into(), json!(af + 1));
            m.insert("datasets".into(), Value::Array(datasets));
        }
        item
    }

    /// Geometry of a row in micro-degrees: `None` (rare), a point, or a small square.
    pub fn geometry(&self, id: i64) -> Option<Geom> {
        let h = self.h(id, 5);
        if h.is_multiple_of(200) {
            return None;
        }
        let x = 5_800_000 + (self.h(id, 6) % 1_300_000) as i64;
        let y = 44_300_000 + (self.h(id, 7) % 1_000_000) as i64;
        if h % 10 == 1 {
            Some(Geom::Square {
                x,
                y,
                side: 1_000 + (h % 4_000) as i64,
            })
        } else {
            Some(Geom::Point { x, y })
        }
    }

    /// One column's value for one row version.
    pub fn value(&self, col: Col, st: &RowState) -> WireValue {
        let id = st.id;
        let h = |salt| self.h(id, salt);
        let opt_int = |salt: u64, modulo: u64, base: i64| {
            let v = h(salt);
            if v.is_multiple_of(4) {
                WireValue::Null
            } else {
                WireValue::Int(base + (v % modulo) as i64)
            }
        };
        match col {
            Col::IdSynthese => WireValue::Int(id),
            Col::IdSource => WireValue::Text(format!("occtax-{}", 100_000 + id)),
            Col::IdPermSinp => WireValue::Uuid(self.uuid(id, 10)),
            Col::IdPermGrpSinp => WireValue::Uuid(self.uuid(id / 3, 11)),
            Col::DateDebut => WireValue::Timestamp(self.date_debut(id)),
            Col::DateFin => WireValue::Timestamp(self.date_debut(id) + Duration::seconds((h(12) % 21_600) as i64)),
            Col::CdNom if reject_kind(id) == Some(Reject::UnknownCdNom) => WireValue::Int(UNKNOWN_CD_NOM),
            Col::NomCite if reject_kind(id) == Some(Reject::UnknownCdNom) => {
                WireValue::Text(UNKNOWN_TAXON_NAME.to_string())
            }
            Col::CdNom => WireValue::Int(TAXA[(h(13) % TAXA.len() as u64) as usize].0),
            Col::NomCite => WireValue::Text(TAXA[(h(13) % TAXA.len() as u64) as usize].1.to_string()),
            Col::VersionTaxref => WireValue::Text(if h(14).is_multiple_of(2) { "16.0" } else { "17.0" }.to_string()),
            Col::NombreMin => WireValue::Int(1 + (self.hv(st, 15) % 20) as i64),
            Col::NombreMax => WireValue::Int(1 + (self.hv(st, 15) % 20) as i64 + (self.hv(st, 16) % 5) as i64),
            Col::AltitudeMin => opt_int(17, 2_500, 600),
            Col::AltitudeMax => match self.value(Col::AltitudeMin, st) {
                WireValue::Int(a) => WireValue::Int(a + (h(18) % 200) as i64),
                other => other,
            },
            Col::ProfondeurMin | Col::ProfondeurMax => WireValue::Null,
            Col::Observateurs => WireValue::Text(self.pick(OBSERVERS, h(19)).to_string()),
            Col::Determinateur => {
                if h(20).is_multiple_of(3) {
                    WireValue::Null
                } else {
                    WireValue::Text(self.pick(OBSERVERS, h(20) / 3).to_string())
                }
            }
            Col::Validateur => {
                if st.version == 0 {
                    WireValue::Null
                } else {
                    WireValue::Text(format!("Validateur n°{}", st.version))
                }
            }
            Col::NumeroPreuve => {
                if h(21).is_multiple_of(10) {
                    WireValue::Text(format!("P-{:06}", id))
                } else {
                    WireValue::Null
                }
            }
            Col::PreuveNumerique => {
                if h(21).is_multiple_of(10) {
                    WireValue::Text(format!("https://medias.example.org/obs/{id}.jpg"))
                } else {
                    WireValue::Null
                }
            }
            Col::PreuveNonNumerique => WireValue::Null,
            Col::CommentReleve => {
                if h(22).is_multiple_of(3) {
                    WireValue::Null
                } else {
                    WireValue::Text(self.pick(COMMENTS, h(22) / 3).to_string())
                }
            }
            Col::CommentOccurrence => {
                if st.version == 0 {
                    if h(23).is_multiple_of(2) {
                        WireValue::Null
                    } else {
                        WireValue::Text(self.pick(COMMENTS, h(23) / 2).to_string())
                    }
                } else {
                    WireValue::Text(format!("Mise à jour n°{} : « effectif revu »", st.version))
                }
            }
            Col::ReferenceBiblio => WireValue::Null,
            Col::CodeHabitat => {
                if h(24).is_multiple_of(5) {
                    WireValue::Text(format!("{}", 1000 + h(24) % 9000))
                } else {
                    WireValue::Null
                }
            }
            Col::Habitat => {
                if h(24).is_multiple_of(5) {
                    WireValue::Text("Pelouses alpines et subalpines".into())
                } else {
                    WireValue::Null
                }
            }
            Col::NomLieu => WireValue::Text(self.pick(PLACES, h(25)).to_string()),
            Col::Precision => opt_int(26, 500, 1),
            Col::DonneesAdditionnelles => {
                if h(27).is_multiple_of(3) {
                    WireValue::Null
                } else {
                    WireValue::Json(
                        json!({"meteo": self.pick(&["soleil", "pluie", "neige"], h(27)), "effectif_estime": h(27) % 50, "remarque": "ça va ; \"ok\""}),
                    )
                }
            }
            Col::Wkt4326 => match self.geometry(id) {
                None => WireValue::Null,
                Some(g) => WireValue::Text(g.wkt()),
            },
            Col::TypeInfoGeoWithoutAttachment => WireValue::Text("1".into()),
            Col::Nomenclature(i) if NOMENCLATURES[i].0 == "type_info_geo" => {
                // '2' (Rattachement) exactly when the row has an area attachment.
                let attached = !matches!(self.value(Col::AreaAttachment, st), WireValue::Null);
                WireValue::Text(if attached { "2" } else { "1" }.into())
            }
            Col::Nomenclature(i)
                if NOMENCLATURES[i].0 == "sexe" && reject_kind(id) == Some(Reject::UnknownNomenclature) =>
            {
                WireValue::Text(UNKNOWN_SEX_CODE.into())
            }
            Col::Nomenclature(i) => {
                let (_, codes) = NOMENCLATURES[i];
                let salt = 100 + i as u64;
                // The validation status follows the row version.
                let v = if NOMENCLATURES[i].0 == "statut_validation" {
                    self.hv(st, salt)
                } else {
                    h(salt)
                };
                WireValue::Text(self.pick(codes, v).to_string())
            }
            Col::MethodeRegroupement => {
                if h(28).is_multiple_of(4) {
                    WireValue::Text("Transect, 2 passages".into())
                } else {
                    WireValue::Null
                }
            }
            Col::DerniereAction => WireValue::Timestamp(st.derniere_action),
            Col::CaUuid => WireValue::Uuid(self.af(Self::af_of_dataset(self.row_dataset(id))).uuid),
            Col::CaNom => WireValue::Text(self.af(Self::af_of_dataset(self.row_dataset(id))).name),
            Col::JddUuid => WireValue::Uuid(self.dataset(self.row_dataset(id)).uuid),
            Col::JddNom => WireValue::Text(self.dataset(self.row_dataset(id)).name),
            Col::JddActeurs => WireValue::Text(format!(
                "[{{\"organisme\": \"Parc national des Écrins\", \"role\": \"Contact principal\", \"jdd\": {}}}]",
                self.row_dataset(id)
            )),
            Col::CaData => WireValue::Json(self.ca_data(Self::af_of_dataset(self.row_dataset(id)))),
            // A dataset the export cannot see: the view's column is SQL NULL (JSON null), never
            // absent (a view always has all its columns). Its framework is still visible.
            Col::JddData if self.row_dataset(id) == MISSING_DATASET => WireValue::Null,
            Col::JddData => WireValue::Json(self.jdd_data(self.row_dataset(id))),
            Col::AreaAttachment => {
                if h(29).is_multiple_of(5) {
                    WireValue::Json(json!({"area_code": format!("05{:03}", h(29) % 180), "type_code": "COM"}))
                } else {
                    WireValue::Null
                }
            }
        }
    }
}

/// A row geometry, in integer micro-degrees (WGS 84) so WKT and GeoJSON agree exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geom {
    Point { x: i64, y: i64 },
    Square { x: i64, y: i64, side: i64 },
}

fn micro(v: i64) -> String {
    format!("{}.{:06}", v / 1_000_000, v % 1_000_000)
}

impl Geom {
    fn ring(&self) -> Vec<(i64, i64)> {
        match *self {
            Geom::Point { x, y } => vec![(x, y)],
            Geom::Square { x, y, side } => vec![(x, y), (x + side, y), (x + side, y + side), (x, y + side), (x, y)],
        }
    }

    pub fn wkt(&self) -> String {
        match self {
            Geom::Point { x, y } => format!("POINT({} {})", micro(*x), micro(*y)),
            Geom::Square { .. } => {
                let pts: Vec<String> = self
                    .ring()
                    .iter()
                    .map(|(x, y)| format!("{} {}", micro(*x), micro(*y)))
                    .collect();
                format!("POLYGON(({}))", pts.join(","))
            }
        }
    }

    /// GeoJSON geometry, coordinates rounded to 6 decimals as GeoNature does.
    pub fn geojson(&self) -> Value {
        let c = |(x, y): (i64, i64)| json!([x as f64 / 1e6, y as f64 / 1e6]);
        match self {
            Geom::Point { x, y } => json!({"type": "Point", "coordinates": c((*x, *y))}),
            Geom::Square { .. } => {
                json!({"type": "Polygon", "coordinates": [self.ring().into_iter().map(c).collect::<Vec<_>>()]})
            }
        }
    }

    /// Bounding box `(xmin, ymin, xmax, ymax)` in micro-degrees.
    pub fn bbox(&self) -> (i64, i64, i64, i64) {
        let r = self.ring();
        let xs = r.iter().map(|p| p.0);
        let ys = r.iter().map(|p| p.1);
        (
            xs.clone().min().unwrap_or(0),
            ys.clone().min().unwrap_or(0),
            xs.max().unwrap_or(0),
            ys.max().unwrap_or(0),
        )
    }
}

/// Bounding box of a WKT geometry in micro-degrees (any geometry type; coordinates only).
pub fn wkt_bbox(wkt: &str) -> Option<(i64, i64, i64, i64)> {
    let start = wkt.find('(')?;
    let nums: Vec<f64> = wkt[start..]
        .split(|c: char| c == '(' || c == ')' || c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    if nums.len() < 2 || !nums.len().is_multiple_of(2) {
        return None;
    }
    let xs = nums.iter().step_by(2).map(|v| (v * 1e6).round() as i64);
    let ys = nums.iter().skip(1).step_by(2).map(|v| (v * 1e6).round() as i64);
    Some((xs.clone().min()?, ys.clone().min()?, xs.max()?, ys.max()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(id: i64) -> RowState {
        RowState {
            id,
            version: 0,
            derniere_action: RowGen::new(1).base_derniere_action(id),
        }
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = RowGen::new(1);
        let b = RowGen::new(2);
        assert_eq!(a.value(Col::IdPermSinp, &st(5)), a.value(Col::IdPermSinp, &st(5)));
        assert_ne!(a.value(Col::IdPermSinp, &st(5)), b.value(Col::IdPermSinp, &st(5)));
        assert_ne!(a.value(Col::IdPermSinp, &st(5)), a.value(Col::IdPermSinp, &st(6)));
    }

    #[test]
    fn uuids_are_valid_v4() {
        let g = RowGen::new(42);
        for id in 1..1000 {
            let u = g.uuid(id, 10);
            assert_eq!(u.len(), 36);
            assert_eq!(&u[14..15], "4");
            assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        }
    }

    #[test]
    fn base_dates_before_epoch_end() {
        let g = RowGen::new(7);
        for id in 1..5000 {
            assert!(g.base_derniere_action(id) < base_epoch_end());
        }
    }

    #[test]
    fn realistic_values_present() {
        let g = RowGen::new(42);
        let mut nulls = 0;
        let mut polygons = 0;
        let mut newlines = 0;
        for id in 1..3000 {
            match g.value(Col::Wkt4326, &st(id)) {
                WireValue::Null => nulls += 1,
                WireValue::Text(t) if t.starts_with("POLYGON") => polygons += 1,
                _ => {}
            }
            if let WireValue::Text(c) = g.value(Col::CommentReleve, &st(id)) {
                newlines += c.contains('\n') as i32;
            }
        }
        assert!(
            nulls > 0 && polygons > 100 && newlines > 100,
            "{nulls} {polygons} {newlines}"
        );
    }

    #[test]
    fn geometry_formats_agree() {
        let g = Geom::Square {
            x: 6_000_001,
            y: 44_500_000,
            side: 1000,
        };
        assert_eq!(
            g.wkt(),
            "POLYGON((6.000001 44.500000,6.001001 44.500000,6.001001 44.501000,6.000001 44.501000,6.000001 44.500000))"
        );
        assert_eq!(wkt_bbox(&g.wkt()), Some(g.bbox()));
        let p = Geom::Point {
            x: 6_100_000,
            y: 44_000_000,
        };
        assert_eq!(
            gn_protocol::json::to_string(&p.geojson()),
            r#"{"coordinates": [6.1, 44.0], "type": "Point"}"#
        );
    }

    #[test]
    fn reject_shares_and_fixture_codes() {
        let g = RowGen::new(42);
        let n = 20_000;
        let col = |shape, name: &str| columns(shape).into_iter().find(|c| c.name == name).unwrap().col;
        let meta_tig = col(Shape::Metadata, "type_info_geo");
        let cdn_tig = col(Shape::CdNomenclature, "type_info_geo");
        let sexe = col(Shape::Metadata, "sexe");
        let meth = col(Shape::Metadata, "methode_determination");
        let (mut cd_nom, mut sex9, mut missing, mut attached) = (0, 0, 0, 0);
        let text = |v: WireValue| match v {
            WireValue::Text(t) => t,
            other => panic!("{other:?}"),
        };
        for id in 1..=n {
            let s = st(id);
            let kinds = [
                g.value(Col::CdNom, &s) == WireValue::Int(UNKNOWN_CD_NOM),
                text(g.value(sexe, &s)) == UNKNOWN_SEX_CODE,
                g.value(Col::JddData, &s) == WireValue::Null,
            ];
            assert!(
                kinds.iter().filter(|k| **k).count() <= 1,
                "reject kinds are disjoint: {id}"
            );
            cd_nom += kinds[0] as i64;
            sex9 += kinds[1] as i64;
            if kinds[2] {
                missing += 1;
                let WireValue::Uuid(u) = g.value(Col::JddUuid, &s) else {
                    panic!()
                };
                assert!((0..DATASET_COUNT).all(|ds| g.dataset(ds).uuid != u));
                let ca = g.value(Col::CaData, &s);
                assert!(matches!(ca, WireValue::Json(ref v) if v["uuid"].is_string()), "{ca:?}");
            } else {
                let WireValue::Uuid(u) = g.value(Col::JddUuid, &s) else {
                    panic!()
                };
                assert!((0..DATASET_COUNT).any(|ds| g.dataset(ds).uuid == u));
            }
            if kinds[0] {
                assert!(matches!(g.value(Col::NomCite, &s), WireValue::Text(_)));
            } else {
                assert!(matches!(g.value(Col::CdNom, &s), WireValue::Int(c) if TAXA.iter().any(|t| t.0 == c)));
            }
            assert_ne!(text(g.value(meth, &s)), "0", "no METH_DETERMIN '0'");
            let has_area = g.value(Col::AreaAttachment, &s) != WireValue::Null;
            attached += has_area as i64;
            assert_eq!(text(g.value(meta_tig, &s)), if has_area { "2" } else { "1" }, "{id}");
            assert_eq!(text(g.value(cdn_tig, &s)), "1");
        }
        for (what, k) in [("cd_nom", cd_nom), ("sexe", sex9), ("dataset", missing)] {
            let share = k as f64 / n as f64;
            assert!((0.003..=0.007).contains(&share), "{what}: {share}");
        }
        assert!(attached > n / 10, "{attached}");
    }

    #[test]
    fn metadata_uses_fixture_codes_and_one_uuid_per_organism() {
        use std::collections::HashMap;
        for seed in [1, 42] {
            let g = RowGen::new(seed);
            let mut uuids: HashMap<String, Vec<String>> = HashMap::new();
            let mut actors = Vec::new();
            for af in 0..AF_COUNT {
                let item = g.af_export_item(af);
                assert_eq!(item["objectives"], json!(["8", "9"]));
                actors.extend(item["actors"].as_array().unwrap().clone());
                for ds in item["datasets"].as_array().unwrap() {
                    actors.extend(ds["actors"].as_array().unwrap().clone());
                }
            }
            for a in &actors {
                let name = a["identity"]["organism_name"].as_str().unwrap().to_string();
                let u = a["uuid_actor"].as_str().unwrap().to_string();
                let v = uuids.entry(name).or_default();
                if !v.contains(&u) {
                    v.push(u);
                }
            }
            // every name has its own uuid, except the one deliberate duplicate name (AF 2)
            assert_eq!(
                uuids["Parc national des Écrins"],
                vec![organism_uuid("Parc national des Écrins")]
            );
            let cen = &uuids["Conservatoire d'espaces naturels"];
            assert_eq!(cen.len(), 2, "{cen:?}");
            assert_eq!(cen[0], organism_uuid("Conservatoire d'espaces naturels"));
            assert_eq!(uuids.len(), 2);
        }
    }

    #[test]
    fn shapes_have_expected_columns() {
        let cdn: Vec<&str> = columns(Shape::CdNomenclature).iter().map(|c| c.name).collect();
        let meta: Vec<&str> = columns(Shape::Metadata).iter().map(|c| c.name).collect();
        assert!(cdn.contains(&"jdd_uuid") && !cdn.contains(&"jdd_data"));
        assert!(meta.contains(&"jdd_data") && meta.contains(&"area_attachment") && !meta.contains(&"ca_uuid"));
        let mut sorted = cdn.clone();
        sorted.sort();
        assert_eq!(cdn, sorted);
    }
}
