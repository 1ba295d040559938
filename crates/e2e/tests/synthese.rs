//! The GeoNature load against the GeoNature 2.17 fixture (tests/fixtures/geonature): every staged
//! item has exactly one synthese row equal to an expectation computed here from the item and the
//! fixture's referentials (never from gn_flux's mapping), metadata and actors inserted and
//! updated, update pulls with inserts, updates and deletions, every reject reason, defaults,
//! preview, replay, overrides, a failing load, GN2PG #110.
//!
//! Needs GN_FLUX_E2E_SYNTHESE_DSN: a superuser on a database with PostGIS, the fixture and
//! gn_flux; tests/e2e/run.sh makes it and runs the tests one at a time. Each test starts from an
//! empty GeoNature (observations, metadata and the organisms gn_flux made are removed).
use gn_flux_e2e::fixtures::{
    add_source, checksum, connect, count, fresh, message, pull, sqlstate, stand_in, Cleanup, SYNTHESE_DSN,
};
use gn_flux_e2e::{Client, FakeGeoNature, MutationRequest};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

const SEED: u64 = 23;

/// Item key → nomenclature type → synthese column, as GeoNature's export views and synthese
/// name them (written here, independently of sql/synthese/observations.sql).
const NOMENCLATURES: &[(&str, &str, &str)] = &[
    ("nature_objet_geo", "NAT_OBJ_GEO", "id_nomenclature_geo_object_nature"),
    ("type_regroupement", "TYP_GRP", "id_nomenclature_grp_typ"),
    ("technique_obs", "METH_OBS", "id_nomenclature_obs_technique"),
    ("statut_biologique", "STATUT_BIO", "id_nomenclature_bio_status"),
    ("etat_biologique", "ETA_BIO", "id_nomenclature_bio_condition"),
    ("naturalite", "NATURALITE", "id_nomenclature_naturalness"),
    ("preuve_existante", "PREUVE_EXIST", "id_nomenclature_exist_proof"),
    ("statut_validation", "STATUT_VALID", "id_nomenclature_valid_status"),
    ("precision_diffusion", "NIV_PRECIS", "id_nomenclature_diffusion_level"),
    ("stade_vie", "STADE_VIE", "id_nomenclature_life_stage"),
    ("sexe", "SEXE", "id_nomenclature_sex"),
    ("objet_denombrement", "OBJ_DENBR", "id_nomenclature_obj_count"),
    ("type_denombrement", "TYP_DENBR", "id_nomenclature_type_count"),
    ("statut_observation", "STATUT_OBS", "id_nomenclature_observation_status"),
    ("floutage_dee", "DEE_FLOU", "id_nomenclature_blurring"),
    ("statut_source", "STATUT_SOURCE", "id_nomenclature_source_status"),
    ("type_info_geo", "TYP_INF_GEO", "id_nomenclature_info_geo_type"),
    ("comportement", "OCC_COMPORTEMENT", "id_nomenclature_behaviour"),
    ("statut_biogeo", "STAT_BIOGEO", "id_nomenclature_biogeo_status"),
    (
        "methode_determination",
        "METH_DETERMIN",
        "id_nomenclature_determination_method",
    ),
];

/// Item key → synthese column, text values.
const TEXTS: &[(&str, &str)] = &[
    ("id_perm_grp_sinp", "unique_id_sinp_grp"),
    ("methode_regroupement", "grp_method"),
    ("reference_biblio", "reference_biblio"),
    ("nom_cite", "nom_cite"),
    ("version_taxref", "meta_v_taxref"),
    ("numero_preuve", "sample_number_proof"),
    ("preuve_numerique", "digital_proof"),
    ("preuve_non_numerique", "non_digital_proof"),
    ("nom_lieu", "place_name"),
    ("validateur", "validator"),
    ("comment_validation", "validation_comment"),
    ("observateurs", "observers"),
    ("determinateur", "determiner"),
    ("comment_releve", "comment_context"),
    ("comment_occurrence", "comment_description"),
];

/// Item key → synthese column, integer values.
const INTEGERS: &[(&str, &str)] = &[
    ("nombre_min", "count_min"),
    ("nombre_max", "count_max"),
    ("cd_nom", "cd_nom"),
    ("code_habitat", "cd_hab"),
    ("altitude_min", "altitude_min"),
    ("altitude_max", "altitude_max"),
    ("profondeur_min", "depth_min"),
    ("profondeur_max", "depth_max"),
    ("precision", "precision"),
];

/// The fixture's referentials, read with plain queries.
struct Refs {
    codes: HashMap<(String, String), i32>,
    labels: HashMap<(String, String), i32>,
    defaults: HashMap<String, Option<i32>>,
    taxa: HashSet<i32>,
    habitats: HashSet<i32>,
    datasets: HashMap<String, i32>,
    areas: HashMap<(String, String), i32>,
}

fn refs(c: &mut Client) -> Refs {
    let mut r = Refs {
        codes: HashMap::new(),
        labels: HashMap::new(),
        defaults: HashMap::new(),
        taxa: HashSet::new(),
        habitats: HashSet::new(),
        datasets: HashMap::new(),
        areas: HashMap::new(),
    };
    for row in c
        .query(
            "SELECT t.mnemonique::text, n.cd_nomenclature::text, n.label_default::text, n.id_nomenclature
               FROM ref_nomenclatures.t_nomenclatures n JOIN ref_nomenclatures.bib_nomenclatures_types t USING (id_type)",
            &[],
        )
        .unwrap()
    {
        let (ty, code, label, id): (String, String, Option<String>, i32) = (row.get(0), row.get(1), row.get(2), row.get(3));
        r.codes.insert((ty.clone(), code), id);
        if let Some(l) = label {
            r.labels.insert((ty, l), id);
        }
    }
    for (_, ty, _) in NOMENCLATURES {
        let d: Option<i32> = c
            .query_one("SELECT gn_synthese.get_default_nomenclature_value($1::text)", &[ty])
            .unwrap()
            .get(0);
        r.defaults.insert(ty.to_string(), d);
    }
    for row in c.query("SELECT cd_nom FROM taxonomie.taxref", &[]).unwrap() {
        r.taxa.insert(row.get(0));
    }
    for row in c.query("SELECT cd_hab FROM ref_habitats.habref", &[]).unwrap() {
        r.habitats.insert(row.get(0));
    }
    for row in c
        .query(
            "SELECT unique_dataset_id::text, id_dataset FROM gn_meta.t_datasets",
            &[],
        )
        .unwrap()
    {
        r.datasets.insert(row.get(0), row.get(1));
    }
    for row in c
        .query(
            "SELECT t.type_code::text, a.area_code::text, a.id_area FROM ref_geo.l_areas a JOIN ref_geo.bib_areas_types t USING (id_type)",
            &[],
        )
        .unwrap()
    {
        r.areas.insert((row.get(0), row.get(1)), row.get(2));
    }
    r
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What the load must do with one staged item.
#[derive(Debug)]
enum Expect {
    Row(BTreeMap<String, Value>),
    Reject(BTreeSet<String>),
}

/// The synthese row (without geometries, checked in SQL) an item must give, or the fields it
/// must be rejected for.
fn expect(item: &Value, uuid: &str, by_label: bool, id_source: i32, last_action: &str, r: &Refs) -> Expect {
    let mut row = BTreeMap::new();
    let mut rejected = BTreeSet::new();
    let sensitivity_0 = r.codes[&("SENSIBILITE".to_string(), "0".to_string())];
    for (key, ty, column) in NOMENCLATURES {
        let id = match text(item.get(*key)) {
            None => r.defaults[*ty],
            Some(code) => {
                let map = if by_label { &r.labels } else { &r.codes };
                match map.get(&(ty.to_string(), code)) {
                    Some(id) => Some(*id),
                    None => {
                        rejected.insert(column.to_string());
                        None
                    }
                }
            }
        };
        row.insert(column.to_string(), id.map(Value::from).unwrap_or(Value::Null));
    }
    // computed by GeoNature's trigger (no sensitivity rule in the fixture): '0'
    row.insert("id_nomenclature_sensitivity".into(), Value::from(sensitivity_0));
    for (key, column) in TEXTS {
        row.insert(
            column.to_string(),
            text(item.get(*key)).map(Value::from).unwrap_or(Value::Null),
        );
    }
    for (key, column) in INTEGERS {
        row.insert(
            column.to_string(),
            int(item.get(*key)).map(Value::from).unwrap_or(Value::Null),
        );
    }
    if let Some(cd_nom) = int(item.get("cd_nom")) {
        if !r.taxa.contains(&(cd_nom as i32)) {
            rejected.insert("cd_nom".into());
        }
    }
    if let Some(cd_hab) = int(item.get("code_habitat")) {
        if !r.habitats.contains(&(cd_hab as i32)) {
            rejected.insert("cd_hab".into());
        }
    }
    match text(item.get("jdd_uuid")).and_then(|u| r.datasets.get(&u).copied()) {
        Some(id) => row.insert("id_dataset".into(), Value::from(id)),
        None => {
            rejected.insert("id_dataset".into());
            None
        }
    };
    if text(item.get("wkt_4326")).is_none() {
        rejected.insert("the_geom_4326".into());
    }
    let area = match item.get("area_attachment") {
        Some(Value::Object(a)) => {
            let key = (
                text(a.get("type_code")).unwrap_or_default(),
                text(a.get("area_code")).unwrap_or_default(),
            );
            match r.areas.get(&key) {
                Some(id) => Value::from(*id),
                None => {
                    rejected.insert("id_area_attachment".into());
                    Value::Null
                }
            }
        }
        _ => Value::Null,
    };
    row.insert("id_area_attachment".into(), area);
    // dates keep their time of day (GN2PG casts them to DATE)
    for (key, column) in [("date_debut", "date_min"), ("date_fin", "date_max")] {
        row.insert(
            column.into(),
            text(item.get(key))
                .map(|d| Value::from(d.replacen(' ', "T", 1)))
                .unwrap_or(Value::Null),
        );
    }
    row.insert(
        "meta_validation_date".into(),
        text(item.get("validation_date"))
            .map(|d| Value::from(d.replacen(' ', "T", 1)))
            .unwrap_or(Value::Null),
    );
    let additional = match item.get("donnees_additionnelles") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    row.insert("additional_data".into(), additional);
    row.insert("unique_id_sinp".into(), Value::from(uuid));
    row.insert(
        "entity_source_pk_value".into(),
        Value::from(text(item.get("id_synthese")).unwrap_or_default()),
    );
    row.insert("id_source".into(), Value::from(id_source));
    row.insert("last_action".into(), Value::from(last_action));
    if rejected.is_empty() {
        Expect::Row(row)
    } else {
        Expect::Reject(rejected)
    }
}

/// An empty GeoNature: observations, metadata, the organisms and roles gn_flux made, the
/// sources gn_flux added; and no gn_flux source.
fn start(names: &[&str]) -> Client {
    let mut c = connect(SYNTHESE_DSN);
    fresh(&mut c, names);
    c.batch_execute(
        "TRUNCATE gn_synthese.synthese, gn_synthese.t_log_synthese, gn_meta.t_datasets, gn_meta.t_acquisition_frameworks CASCADE;
         DELETE FROM gn_synthese.t_sources WHERE id_source > 1;
         DELETE FROM utilisateurs.bib_organismes WHERE additional_data ->> 'module' = 'gn_flux';
         DELETE FROM utilisateurs.t_roles WHERE champs_addi ->> 'module' = 'gn_flux';
         DELETE FROM gn_flux.synthese_reject;
         DELETE FROM taxonomie.taxref WHERE cd_nom = 99999999;
         DELETE FROM ref_nomenclatures.t_nomenclatures WHERE id_nomenclature = 99001;",
    )
    .expect("empty the GeoNature fixture");
    c
}

fn id_source(c: &mut Client, source: &str) -> i32 {
    c.query_one(
        "SELECT id_source FROM gn_flux.synthese_load WHERE source = $1",
        &[&source],
    )
    .unwrap()
    .get(0)
}

/// Every staged item of `source` against its synthese row or its rejects; returns
/// (rows expected in the Synthese, items expected rejected).
fn assert_synthese_exact(c: &mut Client, source: &str, last_action: &dyn Fn(i32) -> &'static str) -> (usize, usize) {
    let r = refs(c);
    let id_source = id_source(c, source);
    let staged = c
        .query(
            "SELECT id_data, uuid::text, type, item::text FROM gn_flux.data_json WHERE source = $1 ORDER BY id_data",
            &[&source],
        )
        .unwrap();
    let mut actual: HashMap<String, BTreeMap<String, Value>> = HashMap::new();
    for row in c
        .query(
            "SELECT unique_id_sinp::text,
                    (to_jsonb(s) - ARRAY['id_synthese', 'the_geom_4326', 'the_geom_point', 'the_geom_local', 'id_module',
                                         'id_digitiser', 'meta_create_date', 'meta_update_date', 'id_import'])::text
               FROM gn_synthese.synthese s WHERE s.id_source = $1",
            &[&id_source],
        )
        .unwrap()
    {
        let obj: BTreeMap<String, Value> = serde_json::from_str(row.get::<_, &str>(1)).unwrap();
        actual.insert(row.get(0), obj);
    }
    let mut rejects: HashMap<i32, BTreeSet<String>> = HashMap::new();
    for row in c
        .query(
            "SELECT id_data, field FROM gn_flux.synthese_reject WHERE source = $1 AND kind = 'observation' AND action = 'rejected'",
            &[&source],
        )
        .unwrap()
    {
        rejects.entry(row.get(0)).or_default().insert(row.get(1));
    }
    let (mut loaded, mut refused) = (0, 0);
    for row in &staged {
        let (id, uuid, ty, item): (i32, String, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
        let item: Value = serde_json::from_str(&item).unwrap();
        match expect(
            &item,
            &uuid,
            ty == "synthese_with_label",
            id_source,
            last_action(id),
            &r,
        ) {
            Expect::Row(want) => {
                let got = actual
                    .get(&uuid)
                    .unwrap_or_else(|| panic!("id_data {id}: no synthese row"));
                for (column, value) in &want {
                    assert_eq!(got.get(column), Some(value), "id_data {id}, column {column}");
                }
                assert!(
                    !rejects.contains_key(&id),
                    "id_data {id} loaded but has rejects {:?}",
                    rejects.get(&id)
                );
                loaded += 1;
            }
            Expect::Reject(fields) => {
                assert!(
                    !actual.contains_key(&uuid),
                    "id_data {id} should be rejected for {fields:?}"
                );
                assert_eq!(rejects.get(&id), Some(&fields), "id_data {id}: reject fields");
                refused += 1;
            }
        }
    }
    assert_eq!(
        actual.len(),
        loaded,
        "synthese rows of {source} that no staged item explains"
    );
    // geometries: from the item's WKT, independently of the staged geometry
    let bad_geometries = count(
        c,
        &format!(
            "SELECT count(*) FROM gn_synthese.synthese s JOIN gn_flux.data_json d ON d.uuid = s.unique_id_sinp AND d.source = '{source}'
              WHERE s.id_source = {id_source} AND NOT (
                    ST_Equals(s.the_geom_4326, ST_GeomFromText(d.item ->> 'wkt_4326', 4326))
                AND ST_Equals(s.the_geom_point, ST_Centroid(ST_GeomFromText(d.item ->> 'wkt_4326', 4326)))
                AND ST_SRID(s.the_geom_local) = 2154
                AND ST_Distance(s.the_geom_local, ST_Transform(ST_GeomFromText(d.item ->> 'wkt_4326', 4326), 2154)) < 0.001)"
        ),
    );
    assert_eq!(bad_geometries, 0, "geometries of {source}");
    // GeoNature's own area trigger ran: every loaded point lies in at least one commune
    let without_area = count(
        c,
        &format!(
            "SELECT count(*) FROM gn_synthese.synthese s WHERE s.id_source = {id_source}
               AND NOT EXISTS (SELECT 1 FROM gn_synthese.cor_area_synthese a WHERE a.id_synthese = s.id_synthese)"
        ),
    );
    assert_eq!(without_area, 0, "cor_area_synthese of {source}");
    (loaded, refused)
}

/// Frameworks and datasets of the metadata export in gn_meta, with their links.
/// Returns how many datasets say they are at `revision` (their description ends so).
fn assert_metadata(c: &mut Client, source: &str, revision: u32) -> usize {
    let note = if revision == 0 {
        String::new()
    } else {
        format!(" (révision {revision})")
    };
    let mut at_revision = 0;
    for row in c
        .query(
            "SELECT m.uuid::text, m.item::text FROM gn_flux.metadata_json m WHERE m.source = $1 AND m.level = 'dataset'",
            &[&source],
        )
        .unwrap()
    {
        let (uuid, item): (String, String) = (row.get(0), row.get(1));
        let item: Value = serde_json::from_str(&item).unwrap();
        let ds = c
            .query_one(
                "SELECT d.dataset_name, d.dataset_desc, d.keywords, af.unique_acquisition_framework_id::text,
                        ref_nomenclatures.get_cd_nomenclature(d.id_nomenclature_data_origin)::text,
                        (SELECT string_agg(o.nom_organisme || '/' || ref_nomenclatures.get_cd_nomenclature(a.id_nomenclature_actor_role), ',')
                           FROM gn_meta.cor_dataset_actor a JOIN utilisateurs.bib_organismes o ON o.id_organisme = a.id_organism
                          WHERE a.id_dataset = d.id_dataset),
                        (SELECT string_agg(ref_nomenclatures.get_cd_nomenclature(t.id_nomenclature_territory), ',')
                           FROM gn_meta.cor_dataset_territory t WHERE t.id_dataset = d.id_dataset)
                   FROM gn_meta.t_datasets d JOIN gn_meta.t_acquisition_frameworks af USING (id_acquisition_framework)
                  WHERE d.unique_dataset_id = $1::text::uuid",
                &[&uuid],
            )
            .unwrap_or_else(|e| panic!("dataset {uuid} in gn_meta: {e}"));
        assert_eq!(ds.get::<_, String>(0), item["name"].as_str().unwrap());
        assert_eq!(ds.get::<_, String>(1), item["desc"].as_str().unwrap());
        if ds.get::<_, String>(1).ends_with(&format!("gn_flux{note}")) {
            at_revision += 1;
        }
        assert_eq!(ds.get::<_, Option<String>>(2).as_deref(), item["keywords"].as_str());
        assert_eq!(ds.get::<_, String>(3), item["ca_uuid"].as_str().unwrap());
        assert_eq!(ds.get::<_, String>(4), item["data_origin"].as_str().unwrap());
        assert_eq!(ds.get::<_, Option<String>>(5).as_deref(), Some("Conservatoire d'espaces naturels/1"));
        assert_eq!(ds.get::<_, Option<String>>(6).as_deref(), Some("METROP"));
    }
    for row in c
        .query(
            "SELECT m.uuid::text, m.item::text FROM gn_flux.metadata_json m WHERE m.source = $1 AND m.level = 'acquisition framework'",
            &[&source],
        )
        .unwrap()
    {
        let (uuid, item): (String, String) = (row.get(0), row.get(1));
        let item: Value = serde_json::from_str(&item).unwrap();
        let af = c
            .query_one(
                "SELECT af.acquisition_framework_name, af.acquisition_framework_desc,
                        ref_nomenclatures.get_cd_nomenclature(af.id_nomenclature_territorial_level)::text,
                        ref_nomenclatures.get_cd_nomenclature(af.id_nomenclature_financing_type)::text,
                        af.acquisition_framework_start_date::text,
                        (SELECT string_agg(ref_nomenclatures.get_cd_nomenclature(o.id_nomenclature_objectif), ',' ORDER BY 1)
                           FROM gn_meta.cor_acquisition_framework_objectif o WHERE o.id_acquisition_framework = af.id_acquisition_framework),
                        (SELECT string_agg(ref_nomenclatures.get_cd_nomenclature(v.id_nomenclature_voletsinp), ',')
                           FROM gn_meta.cor_acquisition_framework_voletsinp v WHERE v.id_acquisition_framework = af.id_acquisition_framework),
                        (SELECT count(*) FROM gn_meta.cor_acquisition_framework_actor a WHERE a.id_acquisition_framework = af.id_acquisition_framework)
                   FROM gn_meta.t_acquisition_frameworks af WHERE af.unique_acquisition_framework_id = $1::text::uuid",
                &[&uuid],
            )
            .unwrap_or_else(|e| panic!("framework {uuid} in gn_meta: {e}"));
        assert_eq!(af.get::<_, String>(0), item["name"].as_str().unwrap());
        assert_eq!(af.get::<_, String>(1), item["desc"].as_str().unwrap());
        assert_eq!(af.get::<_, String>(2), item["territorial_level"].as_str().unwrap());
        assert_eq!(af.get::<_, String>(3), item["financing_type"].as_str().unwrap());
        assert_eq!(af.get::<_, String>(4), item["start_date"].as_str().unwrap());
        assert_eq!(af.get::<_, Option<String>>(5).as_deref(), Some("8,9"));
        // the SINP theme from its real key (GN2PG reads "voletsinp" and always writes '1')
        assert_eq!(af.get::<_, Option<String>>(6).as_deref(), Some("1"));
        // every actor but the stray same-name organism of the last framework
        let actors = item["actors"].as_array().unwrap().len() as i64;
        let linked: i64 = af.get(7);
        assert!(linked == actors || linked == actors - 1, "{linked} of {actors} actors");
    }
    at_revision
}

fn mutate(gn: &FakeGeoNature, m: MutationRequest) -> fake_geonature::MutationResult {
    gn.mutate(&m)
}

#[test]
fn full_then_update_pulls_keep_the_synthese_and_metadata_exact() {
    let mut c = start(&["syn_meta"]);
    let gn = stand_in(SEED, 1200);
    add_source(
        &mut c,
        "syn_meta",
        &gn,
        2,
        &[("data_type", "'synthese_with_metadata'"), ("page_size", "400")],
    );
    let enabled = c
        .query_one(
            "SELECT inserted, rejected FROM gn_flux.enable_synthese('syn_meta')",
            &[],
        )
        .unwrap();
    assert_eq!(
        (enabled.get::<_, i64>(0), enabled.get::<_, i64>(1)),
        (0, 0),
        "nothing staged yet"
    );
    let p = pull(&mut c, "syn_meta", "full");
    assert_eq!((p.status.as_str(), p.items), ("success", 1200), "{p:?}");
    let (loaded, refused) = assert_synthese_exact(&mut c, "syn_meta", &|_| "I");
    assert_eq!(loaded + refused, 1200);
    // the stand-in's deliberate share: unknown cd_nom, unknown SEXE code, no dataset (0.5 % each),
    // no geometry, unknown commune
    assert!((30..=60).contains(&refused), "{refused} rejected");
    assert_eq!(assert_metadata(&mut c, "syn_meta", 0), 8, "8 datasets");
    let log = c
        .query_one(
            "SELECT synthese_upserts, synthese_rejects, synthese_deletes FROM gn_flux.import_log WHERE id = $1",
            &[&p.import_id.unwrap()],
        )
        .unwrap();
    assert_eq!(
        (
            log.get::<_, i32>(0) as usize,
            log.get::<_, i32>(1) as usize,
            log.get::<_, i32>(2)
        ),
        (loaded, refused, 0)
    );
    let status = c
        .query_one(
            "SELECT synthese, synthese_rejects FROM gn_flux.status WHERE source = 'syn_meta'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (status.get::<_, bool>(0), status.get::<_, i64>(1) as usize),
        (true, refused)
    );
    // the organism-name reject of GeoNature 2.17 (one stray actor of the last framework)
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.synthese_reject WHERE kind = 'organism' AND field = 'nom_organisme'"
        ),
        1
    );

    // upstream: inserts, updates (with new metadata), deletions
    let first_ids: Vec<i64> = (1..=1200).filter(|id| id % 7 == 3).take(25).collect();
    let m = mutate(
        &gn,
        MutationRequest {
            insert: 30,
            update: 40,
            delete: 20,
            update_ids: first_ids,
            metadata_revision: Some(1),
            ..MutationRequest::default()
        },
    );
    let deleted_uuids: Vec<String> = c
        .query(
            "SELECT uuid::text FROM gn_flux.data_json WHERE source = 'syn_meta' AND id_data = ANY($1::bigint[]::int[])",
            &[&m.deleted],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let p = pull(&mut c, "syn_meta", "update");
    assert_eq!(p.status, "success", "{p:?}");
    let updated: HashSet<i64> = m.updated.iter().copied().collect();
    let (loaded2, refused2) = assert_synthese_exact(&mut c, "syn_meta", &|id| {
        if updated.contains(&(id as i64)) {
            "U"
        } else {
            "I"
        }
    });
    assert_eq!(loaded2 + refused2, 1200 + 30 - 20);
    // gone upstream, gone from the Synthese, and in GeoNature's deletion log
    let still: i64 = c
        .query_one(
            "SELECT count(*) FROM gn_synthese.synthese WHERE unique_id_sinp = ANY($1::text[]::uuid[])",
            &[&deleted_uuids],
        )
        .unwrap()
        .get(0);
    assert_eq!(still, 0);
    assert!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_synthese.t_log_synthese WHERE last_action = 'D'"
        ) > 0
    );
    // metadata changed upstream reached gn_meta (GN2PG's script is insert-only)
    assert!(
        assert_metadata(&mut c, "syn_meta", 1) > 0,
        "no dataset changed upstream reached gn_meta"
    );
}

#[test]
fn flat_and_label_shapes_load_with_basic_metadata() {
    let mut c = start(&["syn_flat", "syn_label"]);
    let gn = stand_in(SEED + 1, 600);
    add_source(&mut c, "syn_flat", &gn, 1, &[]);
    c.batch_execute("SELECT * FROM gn_flux.enable_synthese('syn_flat')")
        .unwrap();
    let p = pull(&mut c, "syn_flat", "full");
    assert_eq!(p.status, "success");
    let (loaded, refused) = assert_synthese_exact(&mut c, "syn_flat", &|_| "I");
    assert_eq!(loaded + refused, 600);
    // loading again what is already there rewrites nothing (the sensitivity GeoNature
    // recomputed does not count as a change)
    let again = c
        .query_one("SELECT inserted, updated FROM gn_flux.load_synthese('syn_flat')", &[])
        .unwrap();
    assert_eq!((again.get::<_, i64>(0), again.get::<_, i64>(1)), (0, 0));
    // basic frameworks and datasets, named as the export names them
    let wrong = count(
        &mut c,
        "SELECT count(*) FROM (SELECT DISTINCT item ->> 'jdd_uuid' AS u, item ->> 'jdd_nom' AS n, item ->> 'ca_uuid' AS ca
                                 FROM gn_flux.data_json WHERE source = 'syn_flat') x
          WHERE NOT EXISTS (SELECT 1 FROM gn_meta.t_datasets d JOIN gn_meta.t_acquisition_frameworks af USING (id_acquisition_framework)
                             WHERE d.unique_dataset_id = x.u::uuid AND d.dataset_name = x.n
                               AND af.unique_acquisition_framework_id = x.ca::uuid AND d.additional_data ->> 'basic' = 'true')",
    );
    assert_eq!(wrong, 0);

    // synthese_with_label: the same rows with their nomenclatures as labels
    add_source(
        &mut c,
        "syn_label",
        &gn,
        1,
        &[("probe", "false"), ("data_type", "'synthese_with_label'")],
    );
    c.batch_execute(
        "INSERT INTO gn_flux.import_log (source, controler, xfer_type, xfer_status, xfer_start_ts) VALUES ('syn_label', 'data', 'full', 'success', now());
         SELECT * FROM gn_flux.enable_synthese('syn_label', load => false);
         INSERT INTO gn_flux.data_json (source, controler, type, id_data, uuid, item, import_id, geom)
         SELECT 'syn_label', 'data', 'synthese_with_label', d.id_data + 100000, gen_random_uuid(),
                (d.item || jsonb_build_object('id_synthese', d.id_data + 100000,
                   'sexe', (SELECT n.label_default FROM ref_nomenclatures.t_nomenclatures n JOIN ref_nomenclatures.bib_nomenclatures_types t USING (id_type)
                             WHERE t.mnemonique = 'SEXE' AND n.cd_nomenclature = d.item ->> 'sexe'),
                   'stade_vie', (SELECT n.label_default FROM ref_nomenclatures.t_nomenclatures n JOIN ref_nomenclatures.bib_nomenclatures_types t USING (id_type)
                             WHERE t.mnemonique = 'STADE_VIE' AND n.cd_nomenclature = d.item ->> 'stade_vie')))
                  - ARRAY['nature_objet_geo', 'type_regroupement', 'technique_obs', 'statut_biologique', 'etat_biologique', 'naturalite',
                          'preuve_existante', 'statut_validation', 'precision_diffusion', 'objet_denombrement', 'type_denombrement',
                          'niveau_sensibilite', 'statut_observation', 'floutage_dee', 'statut_source', 'type_info_geo', 'comportement',
                          'methode_determination'],
                (SELECT max(id) FROM gn_flux.import_log WHERE source = 'syn_label'), d.geom
           FROM gn_flux.data_json d WHERE d.source = 'syn_flat' AND d.id_data <= 100 AND d.item ->> 'sexe' <> '9';",
    )
    .unwrap();
    let r = c
        .query_one("SELECT inserted, rejected FROM gn_flux.load_synthese('syn_label')", &[])
        .unwrap();
    assert!(r.get::<_, i64>(0) > 80, "{} loaded", r.get::<_, i64>(0));
    // labels resolved to the same ids the codes give; absent keys take GeoNature's defaults
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_synthese.synthese l
               JOIN gn_flux.data_json dl ON dl.uuid = l.unique_id_sinp AND dl.source = 'syn_label'
               JOIN gn_flux.data_json df ON df.id_data = dl.id_data - 100000 AND df.source = 'syn_flat'
               JOIN gn_synthese.synthese f ON f.unique_id_sinp = df.uuid
              WHERE l.id_nomenclature_sex IS DISTINCT FROM f.id_nomenclature_sex
                 OR l.id_nomenclature_life_stage IS DISTINCT FROM f.id_nomenclature_life_stage
                 OR l.id_nomenclature_obs_technique IS DISTINCT FROM gn_synthese.get_default_nomenclature_value('METH_OBS')"
        ),
        0
    );
    let (loaded, _) = assert_synthese_exact(&mut c, "syn_label", &|_| "I");
    assert!(loaded > 80);
}

#[test]
fn rejects_preview_replay_and_defaults() {
    let mut c = start(&["syn_rej"]);
    let gn = stand_in(SEED + 2, 800);
    add_source(&mut c, "syn_rej", &gn, 2, &[("data_type", "'synthese_with_metadata'")]);
    // staged first, the load enabled afterwards (load => false), previewed, then loaded
    let p = pull(&mut c, "syn_rej", "full");
    assert_eq!(p.status, "success");
    c.batch_execute("SELECT * FROM gn_flux.enable_synthese('syn_rej', load => false)")
        .unwrap();
    let before = count(&mut c, "SELECT count(*) FROM gn_flux.synthese_reject")
        + count(&mut c, "SELECT count(*) FROM gn_synthese.synthese");
    let preview = c
        .query(
            "SELECT id_data, action, synthese::text, problems::text FROM gn_flux.synthese_preview('syn_rej', max_rows => 1000)",
            &[],
        )
        .unwrap();
    assert_eq!(preview.len(), 800);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM gn_flux.synthese_reject")
            + count(&mut c, "SELECT count(*) FROM gn_synthese.synthese"),
        before,
        "the preview wrote nothing"
    );
    // metadata is not loaded yet: every row lacks its dataset in the preview
    for row in &preview {
        let (id, action, problems): (i32, String, String) = (row.get(0), row.get(1), row.get(3));
        assert_eq!(action, "reject", "id_data {id}");
        assert!(problems.contains("\"field\": \"id_dataset\""), "{problems}");
    }
    let sex_row = preview.iter().find(|r| r.get::<_, i32>(0) % 200 == 53).unwrap();
    let problems: String = sex_row.get(3);
    assert!(
        problems.contains("unknown SEXE code") && problems.contains("\"value\": \"9\""),
        "{problems}"
    );
    let synthese: Value = serde_json::from_str(&sex_row.get::<_, String>(2)).unwrap();
    assert_eq!(synthese["date_min"].as_str().map(|d| d.len()), Some(19), "{synthese}");

    let r = c
        .query_one("SELECT inserted, rejected FROM gn_flux.load_synthese('syn_rej')", &[])
        .unwrap();
    let rejected_first: i64 = r.get(1);
    let (_, refused) = assert_synthese_exact(&mut c, "syn_rej", &|_| "I");
    assert_eq!(refused as i64, rejected_first);
    let by_reason: Vec<(String, i64)> = c
        .query(
            "SELECT field, count(*) FROM gn_flux.synthese_reject WHERE source = 'syn_rej' AND kind = 'observation' GROUP BY 1 ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for reason in ["cd_nom", "id_dataset", "id_nomenclature_sex"] {
        assert!(
            by_reason.iter().any(|(f, n)| f == reason && *n == 4),
            "{reason}: {by_reason:?}"
        );
    }

    // the DBA fixes two referentials: the taxon and the sex code now exist
    c.batch_execute(
        "INSERT INTO taxonomie.taxref (cd_nom, cd_ref, nom_complet, lb_nom, regne, id_rang)
              SELECT 99999999, 99999999, 'Ophrys sp.', 'Ophrys', 'Plantae', id_rang FROM taxonomie.taxref LIMIT 1;
         INSERT INTO ref_nomenclatures.t_nomenclatures (id_nomenclature, id_type, cd_nomenclature, mnemonique, label_default, label_fr, active)
              SELECT 99001, id_type, '9', 'Test', 'Sexe de test', 'Sexe de test', true FROM ref_nomenclatures.bib_nomenclatures_types WHERE mnemonique = 'SEXE';",
    )
    .unwrap();
    let fixable = count(
        &mut c,
        "SELECT count(*) FROM (SELECT id_data FROM gn_flux.synthese_reject WHERE source = 'syn_rej' AND kind = 'observation'
                                GROUP BY id_data HAVING bool_and(field IN ('cd_nom', 'id_nomenclature_sex'))) x",
    );
    assert!(fixable >= 6, "{fixable}");
    let r = c
        .query_one("SELECT inserted, rejected FROM gn_flux.replay_synthese('syn_rej')", &[])
        .unwrap();
    assert_eq!(
        r.get::<_, i64>(0),
        fixable,
        "the unknown-taxon and unknown-sex rows are loaded"
    );
    let (_, refused) = assert_synthese_exact(&mut c, "syn_rej", &|_| "I");
    assert_eq!(refused as i64, rejected_first - fixable);
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM gn_flux.synthese_reject WHERE source = 'syn_rej' AND field IN ('cd_nom', 'id_nomenclature_sex')"),
        0,
        "their rejects are cleared"
    );
    c.batch_execute(
        "DELETE FROM gn_synthese.synthese WHERE cd_nom = 99999999 OR id_nomenclature_sex = 99001;
         DELETE FROM taxonomie.taxref WHERE cd_nom = 99999999;
         DELETE FROM ref_nomenclatures.t_nomenclatures WHERE id_nomenclature = 99001;",
    )
    .unwrap();

    // default_nomenclatures: the unknown code takes GeoNature's default, and it is recorded
    c.batch_execute("SELECT * FROM gn_flux.enable_synthese('syn_rej', default_nomenclatures => true)")
        .unwrap();
    let defaulted = count(
        &mut c,
        "SELECT count(*) FROM gn_flux.synthese_reject WHERE source = 'syn_rej' AND action = 'defaulted' AND field = 'id_nomenclature_sex' AND value = '9'",
    );
    assert_eq!(defaulted, 4);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_synthese.synthese s JOIN gn_flux.data_json d ON d.uuid = s.unique_id_sinp
              WHERE d.source = 'syn_rej' AND d.item ->> 'sexe' = '9'
                AND s.id_nomenclature_sex = gn_synthese.get_default_nomenclature_value('SEXE')"
        ),
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.data_json d WHERE d.source = 'syn_rej' AND d.item ->> 'sexe' = '9'
                AND NOT EXISTS (SELECT 1 FROM gn_flux.synthese_reject x WHERE x.source = 'syn_rej' AND x.id_data = d.id_data
                                   AND x.action = 'rejected')"
        )
    );
    assert_eq!(
        count(
            &mut c,
            "SELECT synthese_defaulted FROM gn_flux.status WHERE source = 'syn_rej'"
        ),
        4
    );
}

#[test]
fn a_failing_load_leaves_staging_and_synthese_unchanged() {
    let _cleanup = Cleanup::new(
        SYNTHESE_DSN,
        "DROP TRIGGER IF EXISTS e2e_refuse ON gn_synthese.synthese; DROP FUNCTION IF EXISTS public.e2e_refuse();",
    );
    let mut c = start(&["syn_fail"]);
    let gn = stand_in(SEED + 3, 500);
    add_source(&mut c, "syn_fail", &gn, 2, &[("data_type", "'synthese_with_metadata'")]);
    c.batch_execute("SELECT * FROM gn_flux.enable_synthese('syn_fail')")
        .unwrap();
    assert_eq!(pull(&mut c, "syn_fail", "full").status, "success");
    let staged = checksum(&mut c, "syn_fail");
    let synthese_sum = "SELECT md5(string_agg(s::text, '|' ORDER BY id_synthese)) FROM gn_synthese.synthese s";
    let before: String = c.query_one(synthese_sum, &[]).unwrap().get(0);
    // a GeoNature trigger that refuses updates: the update pull fails as a whole
    c.batch_execute(
        "CREATE FUNCTION public.e2e_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'e2e: synthese updates refused'; END $$;
         CREATE TRIGGER e2e_refuse BEFORE UPDATE ON gn_synthese.synthese FOR EACH ROW EXECUTE FUNCTION public.e2e_refuse();",
    )
    .unwrap();
    let m = mutate(
        &gn,
        MutationRequest {
            update: 10,
            delete: 5,
            insert: 5,
            ..MutationRequest::default()
        },
    );
    let p = pull(&mut c, "syn_fail", "update");
    assert_eq!(p.status, "failed", "{p:?}");
    assert!(
        p.message.as_deref().unwrap_or("").contains("synthese updates refused"),
        "{p:?}"
    );
    assert_eq!(checksum(&mut c, "syn_fail"), staged, "staging unchanged");
    let after: String = c.query_one(synthese_sum, &[]).unwrap().get(0);
    assert_eq!(after, before, "Synthese unchanged");
    c.batch_execute("DROP TRIGGER e2e_refuse ON gn_synthese.synthese")
        .unwrap();
    assert_eq!(pull(&mut c, "syn_fail", "update").status, "success");
    let updated: HashSet<i64> = m.updated.iter().copied().collect();
    assert_synthese_exact(&mut c, "syn_fail", &|id| {
        if updated.contains(&(id as i64)) {
            "U"
        } else {
            "I"
        }
    });
}

#[test]
fn a_uuid_of_another_source_is_rejected_not_taken_over() {
    // GN2PG #110: an observation whose uuid the Synthese already holds under another source
    let mut c = start(&["syn_owner"]);
    let gn = stand_in(SEED + 4, 300);
    add_source(
        &mut c,
        "syn_owner",
        &gn,
        2,
        &[("data_type", "'synthese_with_metadata'")],
    );
    assert_eq!(pull(&mut c, "syn_owner", "full").status, "success");
    let (id, uuid): (i32, String) = {
        let r = c
            .query_one(
                "SELECT id_data, uuid::text FROM gn_flux.data_json WHERE source = 'syn_owner' AND id_data = 5",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    c.batch_execute(&format!(
        "INSERT INTO gn_meta.t_acquisition_frameworks (unique_acquisition_framework_id, acquisition_framework_name, acquisition_framework_desc, acquisition_framework_start_date)
              VALUES ('00000000-0000-4000-8000-0000000000af', 'Occtax', '', '2020-01-01');
         INSERT INTO gn_meta.t_datasets (unique_dataset_id, id_acquisition_framework, dataset_name, dataset_shortname, dataset_desc, marine_domain, terrestrial_domain)
              SELECT '00000000-0000-4000-8000-0000000000d5', id_acquisition_framework, 'Occtax', 'Occtax', '', false, true FROM gn_meta.t_acquisition_frameworks;
         INSERT INTO gn_synthese.synthese (unique_id_sinp, id_source, id_dataset, nom_cite, date_min, date_max, the_geom_4326, the_geom_point, the_geom_local)
              SELECT '{uuid}', 1, id_dataset, 'saisie locale', '2020-05-01', '2020-05-01',
                     ST_SetSRID(ST_MakePoint(6.3, 44.8), 4326), ST_SetSRID(ST_MakePoint(6.3, 44.8), 4326),
                     ST_Transform(ST_SetSRID(ST_MakePoint(6.3, 44.8), 4326), 2154) FROM gn_meta.t_datasets;"
    ))
    .unwrap();
    c.batch_execute("SELECT * FROM gn_flux.enable_synthese('syn_owner')")
        .unwrap();
    let reason: String = c
        .query_one(
            "SELECT problem FROM gn_flux.synthese_reject WHERE source = 'syn_owner' AND id_data = $1 AND field = 'unique_id_sinp'",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert!(reason.contains("already belongs to source \"Import\""), "{reason}");
    let kept: String = c
        .query_one(
            "SELECT nom_cite FROM gn_synthese.synthese WHERE unique_id_sinp = $1::text::uuid",
            &[&uuid],
        )
        .unwrap()
        .get(0);
    assert_eq!(kept, "saisie locale", "the other source's observation is untouched");
}

#[test]
fn a_column_override_for_one_source() {
    let _cleanup = Cleanup::new(
        SYNTHESE_DSN,
        "DELETE FROM gn_flux.synthese_column;
         DO $$ BEGIN
             IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'e2e_mapper') THEN
                 DROP OWNED BY e2e_mapper; DROP ROLE e2e_mapper;
             END IF;
         END $$;",
    );
    let mut c = start(&["syn_over"]);
    let gn = stand_in(SEED + 5, 300);
    add_source(&mut c, "syn_over", &gn, 1, &[]);
    assert_eq!(pull(&mut c, "syn_over", "full").status, "success");
    c.batch_execute(
        "SELECT gn_flux.set_synthese_column('syn_over', 'observers', 'upper(s.item ->> ''observateurs'')');
         SELECT gn_flux.set_synthese_column('syn_over', 'id_nomenclature_sex', 'coalesce(nullif(s.item ->> ''sexe'', ''9''), ''6'')');
         SELECT * FROM gn_flux.enable_synthese('syn_over');",
    )
    .unwrap();
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_synthese.synthese s JOIN gn_flux.data_json d ON d.uuid = s.unique_id_sinp
              WHERE d.source = 'syn_over' AND s.observers IS DISTINCT FROM upper(d.item ->> 'observateurs')"
        ),
        0
    );
    // the sex code '9' rows now load (as '6'), the other rejects stay
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM gn_flux.synthese_reject WHERE source = 'syn_over' AND field = 'id_nomenclature_sex'"
        ),
        0
    );
    let mapping = c
        .query_one(
            "SELECT expression, overridden FROM gn_flux.synthese_mapping('syn_over') WHERE column_name = 'observers'",
            &[],
        )
        .unwrap();
    assert_eq!(
        (mapping.get::<_, String>(0).as_str(), mapping.get::<_, bool>(1)),
        ("upper(s.item ->> 'observateurs')", true)
    );
    // bad overrides: clear errors
    for (column, expression, state, needle) in [
        (
            "observers",
            "s.item ->> 'x'; DROP TABLE gn_flux.source",
            "22023",
            "';' is not allowed",
        ),
        ("observers", "s.item ->> 'x' -- comment", "22023", "comments"),
        ("observers", "s.nope", "22023", "column s.nope does not exist"),
        ("id_synthese", "1", "42703", "not a column of the observation mapping"),
    ] {
        let e = c
            .execute(
                "SELECT gn_flux.set_synthese_column('syn_over', $1, $2)",
                &[&column, &expression],
            )
            .unwrap_err();
        assert_eq!(sqlstate(&e), state, "{expression}: {e}");
        assert!(message(&e).contains(needle), "{expression}: {}", message(&e));
    }
    // an override written by a role without the loader's privileges is not run by it
    c.batch_execute(
        "CREATE ROLE e2e_mapper LOGIN;
         GRANT EXECUTE ON FUNCTION gn_flux.set_synthese_column(text, text, text) TO e2e_mapper;
         GRANT SELECT ON gn_flux.source, gn_flux.synthese_column TO e2e_mapper;
         GRANT INSERT, UPDATE, DELETE ON gn_flux.synthese_column TO e2e_mapper;
         GRANT USAGE ON SCHEMA gn_synthese, ref_nomenclatures, taxonomie, ref_geo, ref_habitats, gn_meta, utilisateurs TO e2e_mapper;
         GRANT SELECT ON ALL TABLES IN SCHEMA gn_synthese, ref_nomenclatures, taxonomie, ref_geo, ref_habitats, gn_meta, utilisateurs TO e2e_mapper;
         GRANT SELECT ON gn_flux.data_json TO e2e_mapper;
         SET ROLE e2e_mapper;
         SELECT gn_flux.set_synthese_column('syn_over', 'observers', 'lower(s.item ->> ''observateurs'')');
         RESET ROLE;",
    )
    .unwrap();
    let e = c
        .query("SELECT * FROM gn_flux.load_synthese('syn_over')", &[])
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501", "{e}");
    assert!(message(&e).contains("set by role \"e2e_mapper\""), "{e}");
    c.batch_execute("SELECT gn_flux.set_synthese_column('syn_over', 'observers', NULL)")
        .unwrap();
    c.batch_execute("SELECT * FROM gn_flux.load_synthese('syn_over')")
        .unwrap();
}

#[test]
fn check_geonature_names_what_is_missing() {
    let mut c = start(&[]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM gn_flux.check_geonature()"), 0);
    let mut t = c.transaction().unwrap();
    t.batch_execute(
        "ALTER TABLE gn_synthese.synthese DROP COLUMN validator;
         ALTER TABLE gn_synthese.synthese DROP CONSTRAINT unique_id_sinp_unique;
         DELETE FROM gn_synthese.defaults_nomenclatures_value WHERE mnemonique_type = 'STAT_BIOGEO';
         DELETE FROM ref_nomenclatures.defaults_nomenclatures_value WHERE mnemonique_type = 'STAT_BIOGEO';
         DELETE FROM ref_nomenclatures.t_nomenclatures WHERE id_type = (SELECT id_type FROM ref_nomenclatures.bib_nomenclatures_types WHERE mnemonique = 'STAT_BIOGEO');
         DELETE FROM ref_nomenclatures.bib_nomenclatures_types WHERE mnemonique = 'STAT_BIOGEO';",
    )
    .unwrap();
    let problems: Vec<String> = t
        .query("SELECT object || ': ' || problem FROM gn_flux.check_geonature()", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        problems,
        [
            "gn_synthese.synthese (unique_id_sinp): no unique index on this column alone (the load upserts with ON CONFLICT on it)",
            "gn_synthese.synthese.validator: column missing",
            "nomenclature type STAT_BIOGEO: missing from ref_nomenclatures.bib_nomenclatures_types",
        ]
    );
    t.batch_execute("SELECT gn_flux.add_source('syn_check', 'http://127.0.0.1:9/geonature', 1, probe => false)")
        .unwrap();
    let e = t
        .query("SELECT * FROM gn_flux.enable_synthese('syn_check')", &[])
        .unwrap_err();
    assert_eq!(sqlstate(&e), "55000");
    let db = e.as_db_error().unwrap();
    assert!(db.message().contains("lacks 3 object(s)"), "{}", db.message());
    assert!(
        db.detail()
            .unwrap_or("")
            .contains("gn_synthese.synthese.validator: column missing"),
        "{:?}",
        db.detail()
    );
    assert!(db.hint().unwrap_or("").contains("check_geonature"), "{:?}", db.hint());
    t.rollback().unwrap();
}
