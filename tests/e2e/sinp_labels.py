"""The ready-made mapping of another GeoNature's `v_synthese_sinp` export (nomenclatures as
labels), end to end: a view shaped as GeoNature's v_synthese_sinp over the Synthese rows that
tests/e2e/feeds.py loaded, published by gn_flux's API workers as a GeoNature export, pulled back by
a source of kind `json` (GeoNature's page-index paging) and loaded with
`example_mapping('geonature_sinp', …)`: every loaded row must equal the row it was exported from
(every nomenclature turned from its label back into the same code, dates, counts, taxon, dataset,
geometry) — what API2GN's GeoNature parser loses.

Environment: GN_FLUX_E2E_FEEDS_PG (host port user password dbname, served by the API workers) and
GN_FLUX_E2E_API (http://127.0.0.1:PORT/geonature).
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from feedlib import finish, ok, one, q  # noqa: E402

API = os.environ["GN_FLUX_E2E_API"]


NOMENCLATURES = [
    ("nature_objet_geo", "id_nomenclature_geo_object_nature"), ("type_regroupement", "id_nomenclature_grp_typ"),
    ("comportement", "id_nomenclature_behaviour"), ("technique_obs", "id_nomenclature_obs_technique"),
    ("statut_biologique", "id_nomenclature_bio_status"), ("etat_biologique", "id_nomenclature_bio_condition"),
    ("naturalite", "id_nomenclature_naturalness"), ("preuve_existante", "id_nomenclature_exist_proof"),
    ("precision_diffusion", "id_nomenclature_diffusion_level"), ("stade_vie", "id_nomenclature_life_stage"),
    ("sexe", "id_nomenclature_sex"), ("objet_denombrement", "id_nomenclature_obj_count"),
    ("type_denombrement", "id_nomenclature_type_count"), ("niveau_sensibilite", "id_nomenclature_sensitivity"),
    ("statut_observation", "id_nomenclature_observation_status"), ("floutage_dee", "id_nomenclature_blurring"),
    ("statut_source", "id_nomenclature_source_status"), ("type_info_geo", "id_nomenclature_info_geo_type"),
    ("methode_determination", "id_nomenclature_determination_method"),
]

q("SET client_min_messages = warning")
source_id = one("SELECT id_source FROM gn_flux.synthese_load WHERE source = 'wfs_ms'")
# (labels by joins: the view reads the referential with its owner's privileges, as GeoNature's does)
labels = ",\n".join(f"n{k}.label_default AS {name}" for k, (name, _) in enumerate(NOMENCLATURES))
joins = "\n".join(f"LEFT JOIN ref_nomenclatures.t_nomenclatures n{k} ON n{k}.id_nomenclature = s.{col}"
                  for k, (_, col) in enumerate(NOMENCLATURES))
q("DROP SCHEMA IF EXISTS sinp CASCADE")
q("CREATE SCHEMA sinp")
q(f"""CREATE VIEW sinp.v_synthese_sinp AS
SELECT s.id_synthese, s.unique_id_sinp AS id_perm_sinp, s.unique_id_sinp_grp AS id_perm_grp_sinp,
       s.date_min AS date_debut, s.date_max AS date_fin, s.cd_nom, s.meta_v_taxref AS version_taxref, s.nom_cite,
       s.count_min AS nombre_min, s.count_max AS nombre_max, s.altitude_min, s.altitude_max,
       s.depth_min AS profondeur_min, s.depth_max AS profondeur_max, s.observers AS observateurs,
       s.determiner AS determinateur, s.validator AS validateur, s.comment_context AS comment_releve,
       s.comment_description AS comment_occurrence, s.place_name AS nom_lieu, s."precision", s.reference_biblio,
       s.cd_hab AS code_habitat, s.grp_method AS methode_regroupement, s.sample_number_proof AS numero_preuve,
       s.digital_proof AS preuve_numerique, s.non_digital_proof AS preuve_non_numerique,
       d.unique_dataset_id AS jdd_uuid, ST_AsText(s.the_geom_4326) AS wkt_4326,
       {labels},
       s.additional_data::text AS donnees_additionnelles
  FROM gn_synthese.synthese s JOIN gn_meta.t_datasets d USING (id_dataset)
 {joins}
 WHERE s.id_source = {int(source_id)}""")
q("GRANT USAGE ON SCHEMA sinp TO gn_flux_anonymous")
q("GRANT SELECT ON sinp.v_synthese_sinp TO gn_flux_anonymous")
q("DELETE FROM gn_flux.export WHERE label = 'Synthese SINP'")
export_id = one("""INSERT INTO gn_flux.export (label, schema_name, view_name, view_pk_column, public, description)
                   VALUES ('Synthese SINP', 'sinp', 'v_synthese_sinp', 'id_synthese', true, 'v_synthese_sinp with labels')
                   RETURNING id""")
sample = one("SELECT statut_observation FROM sinp.v_synthese_sinp LIMIT 1")
ok(sample and not sample.isupper() and len(sample) > 3, f"the export carries nomenclature labels, not codes (e.g. {sample!r})")

q("SELECT gn_flux.drop_source(name) FROM gn_flux.source WHERE name = 'gn_sinp'")
q("""SELECT gn_flux.add_source('gn_sinp', %s, kind => 'json', page_size => 1000,
        options => '{"paging": "page", "page_param": "offset", "first_page": 0, "limit_param": "limit",
                     "items": "/items", "id": "id_synthese"}')""", f"{API}/api/exports/api/{export_id}")
r = q("SELECT status, items, message FROM gn_flux.pull_source('gn_sinp', 'full')")[0]
total = one("SELECT count(*) FROM sinp.v_synthese_sinp")
ok(r[0] == "success" and r[1] == total, f"the export pulled as a JSON API (GeoNature's page-index offset): {r[1]} of {total} ({r[2]})")
dataset = one("SELECT jdd_uuid::text FROM sinp.v_synthese_sinp LIMIT 1")
q("SELECT gn_flux.set_mapping('gn_sinp', gn_flux.example_mapping('geonature_sinp', %s::uuid))", dataset)
q("SELECT * FROM gn_flux.enable_synthese('gn_sinp')")
new_source = one("SELECT id_source FROM gn_flux.synthese_load WHERE source = 'gn_sinp'")
loaded = one("SELECT count(*) FROM gn_synthese.synthese WHERE id_source = %s", new_source)
rejects = q("SELECT field, problem, count(*) FROM gn_flux.synthese_reject WHERE source = 'gn_sinp' GROUP BY 1, 2 LIMIT 5")
ok(loaded == total, f"loaded with example_mapping('geonature_sinp'): {loaded} of {total} (rejects: {rejects})")
differ = " OR ".join(f"n.{col} IS DISTINCT FROM o.{col}" for _, col in NOMENCLATURES)
bad = one(f"""SELECT count(*) FROM gn_synthese.synthese o
               LEFT JOIN gn_synthese.synthese n ON n.id_source = %s AND n.entity_source_pk_value = o.id_synthese::text
              WHERE o.id_source = %s
                AND (n.id_synthese IS NULL OR {differ}
                     OR n.nom_cite IS DISTINCT FROM o.nom_cite OR n.cd_nom IS DISTINCT FROM o.cd_nom
                     OR n.date_min IS DISTINCT FROM o.date_min OR n.date_max IS DISTINCT FROM o.date_max
                     OR n.count_min IS DISTINCT FROM o.count_min OR n.count_max IS DISTINCT FROM o.count_max
                     OR n.observers IS DISTINCT FROM o.observers OR n.place_name IS DISTINCT FROM o.place_name
                     OR n.id_dataset IS DISTINCT FROM o.id_dataset
                     -- (the export's wkt_4326 is ST_AsText: 15 significant digits)
                     OR ST_Distance(n.the_geom_4326, o.the_geom_4326) > 1e-9)""", new_source, source_id)
ok(bad == 0, f"every row equals the row it was exported from, nomenclatures included (labels back to codes): {bad} differ")

finish()
