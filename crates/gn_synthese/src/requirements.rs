//! What a GeoNature database must have for the load (`gn_flux.check_geonature()`): every table
//! and column the SQL of `sql/synthese/` names, the unique keys its upserts use, the functions it
//! calls and the nomenclature types it resolves. Written for GeoNature [`crate::GEONATURE_VERSION`].

/// A table and the columns the load reads or writes.
pub struct Table {
    pub schema: &'static str,
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

const fn t(schema: &'static str, name: &'static str, columns: &'static [&'static str]) -> Table {
    Table { schema, name, columns }
}

pub const TABLES: &[Table] = &[
    t(
        "gn_synthese",
        "synthese",
        &[
            "id_synthese",
            "unique_id_sinp",
            "unique_id_sinp_grp",
            "id_source",
            "entity_source_pk_value",
            "id_dataset",
            "id_nomenclature_geo_object_nature",
            "id_nomenclature_grp_typ",
            "grp_method",
            "id_nomenclature_obs_technique",
            "id_nomenclature_bio_status",
            "id_nomenclature_bio_condition",
            "id_nomenclature_naturalness",
            "id_nomenclature_exist_proof",
            "id_nomenclature_valid_status",
            "id_nomenclature_diffusion_level",
            "id_nomenclature_life_stage",
            "id_nomenclature_sex",
            "id_nomenclature_obj_count",
            "id_nomenclature_type_count",
            "id_nomenclature_sensitivity",
            "id_nomenclature_observation_status",
            "id_nomenclature_blurring",
            "id_nomenclature_source_status",
            "id_nomenclature_info_geo_type",
            "id_nomenclature_behaviour",
            "id_nomenclature_biogeo_status",
            "id_nomenclature_determination_method",
            "reference_biblio",
            "count_min",
            "count_max",
            "cd_nom",
            "cd_hab",
            "nom_cite",
            "meta_v_taxref",
            "sample_number_proof",
            "digital_proof",
            "non_digital_proof",
            "altitude_min",
            "altitude_max",
            "depth_min",
            "depth_max",
            "place_name",
            "the_geom_4326",
            "the_geom_point",
            "the_geom_local",
            "precision",
            "id_area_attachment",
            "date_min",
            "date_max",
            "validator",
            "validation_comment",
            "observers",
            "determiner",
            "comment_context",
            "comment_description",
            "additional_data",
            "meta_validation_date",
            "last_action",
        ],
    ),
    t(
        "gn_synthese",
        "t_sources",
        &["id_source", "name_source", "desc_source", "entity_source_pk_field"],
    ),
    t(
        "ref_nomenclatures",
        "t_nomenclatures",
        &[
            "id_nomenclature",
            "id_type",
            "cd_nomenclature",
            "label_default",
            "active",
        ],
    ),
    t(
        "ref_nomenclatures",
        "bib_nomenclatures_types",
        &["id_type", "mnemonique"],
    ),
    t("taxonomie", "taxref", &["cd_nom"]),
    t("ref_habitats", "habref", &["cd_hab"]),
    t("ref_geo", "l_areas", &["id_area", "id_type", "area_code"]),
    t("ref_geo", "bib_areas_types", &["id_type", "type_code"]),
    t(
        "utilisateurs",
        "bib_organismes",
        &[
            "id_organisme",
            "uuid_organisme",
            "nom_organisme",
            "email_organisme",
            "additional_data",
        ],
    ),
    t(
        "utilisateurs",
        "t_roles",
        &[
            "id_role",
            "uuid_role",
            "nom_role",
            "prenom_role",
            "email",
            "groupe",
            "champs_addi",
        ],
    ),
    t(
        "gn_meta",
        "t_acquisition_frameworks",
        &[
            "id_acquisition_framework",
            "unique_acquisition_framework_id",
            "acquisition_framework_name",
            "acquisition_framework_desc",
            "id_nomenclature_territorial_level",
            "id_nomenclature_financing_type",
            "territory_desc",
            "keywords",
            "target_description",
            "ecologic_or_geologic_target",
            "is_parent",
            "acquisition_framework_parent_id",
            "acquisition_framework_start_date",
            "acquisition_framework_end_date",
            "initial_closing_date",
            "additional_data",
        ],
    ),
    t(
        "gn_meta",
        "t_datasets",
        &[
            "id_dataset",
            "unique_dataset_id",
            "id_acquisition_framework",
            "dataset_name",
            "dataset_shortname",
            "dataset_desc",
            "keywords",
            "marine_domain",
            "terrestrial_domain",
            "id_nomenclature_data_type",
            "id_nomenclature_dataset_objectif",
            "id_nomenclature_collecting_method",
            "id_nomenclature_data_origin",
            "id_nomenclature_source_status",
            "id_nomenclature_resource_type",
            "additional_data",
        ],
    ),
    t(
        "gn_meta",
        "cor_acquisition_framework_actor",
        &[
            "id_acquisition_framework",
            "id_role",
            "id_organism",
            "id_nomenclature_actor_role",
        ],
    ),
    t(
        "gn_meta",
        "cor_dataset_actor",
        &["id_dataset", "id_role", "id_organism", "id_nomenclature_actor_role"],
    ),
    t(
        "gn_meta",
        "cor_acquisition_framework_objectif",
        &["id_acquisition_framework", "id_nomenclature_objectif"],
    ),
    t(
        "gn_meta",
        "cor_acquisition_framework_voletsinp",
        &["id_acquisition_framework", "id_nomenclature_voletsinp"],
    ),
    t(
        "gn_meta",
        "cor_acquisition_framework_territory",
        &["id_acquisition_framework", "id_nomenclature_territory"],
    ),
    t(
        "gn_meta",
        "cor_dataset_territory",
        &["id_dataset", "id_nomenclature_territory"],
    ),
];

/// Single-column unique keys the upserts name in ON CONFLICT (schema, table, column).
pub const UNIQUE_KEYS: &[(&str, &str, &str)] = &[
    ("gn_synthese", "synthese", "unique_id_sinp"),
    ("gn_synthese", "t_sources", "name_source"),
    ("gn_meta", "t_acquisition_frameworks", "unique_acquisition_framework_id"),
    ("gn_meta", "t_datasets", "unique_dataset_id"),
];

/// Functions the load calls (schema, name).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("gn_synthese", "get_default_nomenclature_value"),
    ("ref_nomenclatures", "get_default_nomenclature_value"),
];

/// Nomenclature types the load resolves codes of.
pub const NOMENCLATURE_TYPES: &[&str] = &[
    "NAT_OBJ_GEO",
    "TYP_GRP",
    "METH_OBS",
    "STATUT_BIO",
    "ETA_BIO",
    "NATURALITE",
    "PREUVE_EXIST",
    "STATUT_VALID",
    "NIV_PRECIS",
    "STADE_VIE",
    "SEXE",
    "OBJ_DENBR",
    "TYP_DENBR",
    "SENSIBILITE",
    "STATUT_OBS",
    "DEE_FLOU",
    "STATUT_SOURCE",
    "TYP_INF_GEO",
    "OCC_COMPORTEMENT",
    "STAT_BIOGEO",
    "METH_DETERMIN",
    "NIVEAU_TERRITORIAL",
    "TYPE_FINANCEMENT",
    "CA_OBJECTIFS",
    "VOLET_SINP",
    "TERRITOIRE",
    "ROLE_ACTEUR",
    "DATA_TYP",
    "JDD_OBJECTIFS",
    "METHO_RECUEIL",
    "DS_PUBLIQUE",
    "RESOURCE_TYP",
];

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The requirements as the JSON argument of `sql/synthese/check_geonature.sql`:
/// `{"columns": [[schema, table, column]…], "unique": […], "functions": [[schema, name]…], "types": […]}`.
pub fn as_json() -> String {
    let cols: Vec<String> = TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(move |c| format!("[{},{},{}]", json_str(t.schema), json_str(t.name), json_str(c)))
        })
        .collect();
    let unique: Vec<String> = UNIQUE_KEYS
        .iter()
        .map(|(s, t, c)| format!("[{},{},{}]", json_str(s), json_str(t), json_str(c)))
        .collect();
    let functions: Vec<String> = FUNCTIONS
        .iter()
        .map(|(s, f)| format!("[{},{}]", json_str(s), json_str(f)))
        .collect();
    let types: Vec<String> = NOMENCLATURE_TYPES.iter().map(|t| json_str(t)).collect();
    format!(
        "{{\"columns\":[{}],\"unique\":[{}],\"functions\":[{}],\"types\":[{}]}}",
        cols.join(","),
        unique.join(","),
        functions.join(","),
        types.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::default_columns;

    #[test]
    fn every_mapped_column_is_required_of_the_synthese() {
        let synthese = TABLES.iter().find(|t| t.name == "synthese").unwrap();
        for c in default_columns() {
            assert!(synthese.columns.contains(&c.name.as_str()), "{} not required", c.name);
        }
    }

    #[test]
    fn every_nomenclature_type_the_sql_names_is_required() {
        for sql in [crate::OBSERVATIONS_SQL, crate::METADATA_SQL] {
            for part in sql.split('\'').skip(1).step_by(2) {
                let looks_like_type = part.len() > 3
                    && part.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && !["ALL"].contains(&part);
                if looks_like_type {
                    assert!(
                        NOMENCLATURE_TYPES.contains(&part),
                        "{part} missing from NOMENCLATURE_TYPES"
                    );
                }
            }
        }
    }

    #[test]
    fn the_json_lists_everything() {
        let j = as_json();
        assert!(j.starts_with("{\"columns\":[[\"gn_synthese\",\"synthese\",\"id_synthese\"]"));
        assert!(j.contains("[\"gn_meta\",\"t_datasets\",\"unique_dataset_id\"]"));
        assert!(j.contains("\"METH_DETERMIN\""));
    }
}
