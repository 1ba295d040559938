//! WFS 2.0 GetFeature replies in GML 3.2 → GeoJSON-like features (`id`, `properties`,
//! `geometry`), so that both outputs of a WFS source are prepared the same way.
//!
//! Properties are the feature's simple child elements, as text (GML carries no JSON types).
//! Geometries: Point, LineString, Curve (line segments), Polygon, Surface/PolygonPatch, and their
//! Multi* forms. Axis order follows the `srsName`: the URN and URI forms of a geographic EPSG
//! CRS (`urn:ogc:def:crs:EPSG::4326`) are latitude first; `EPSG:4326` is longitude first.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{json, Map, Value};

/// A small element tree.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, local: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == local).map(|(_, v)| v.as_str())
    }

    fn child(&self, local: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == local)
    }

    /// The first descendant named `local` (depth first).
    fn find(&self, local: &str) -> Option<&Node> {
        for c in &self.children {
            if c.name == local {
                return Some(c);
            }
            if let Some(n) = c.find(local) {
                return Some(n);
            }
        }
        None
    }
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    match s.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => s.to_string(),
    }
}

/// Depth cap: a hostile reply cannot nest without bound.
const MAX_DEPTH: usize = 64;

fn parse_tree(xml: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                if stack.len() > MAX_DEPTH {
                    return Err(format!("elements nested more than {MAX_DEPTH} deep"));
                }
                stack.push(element(&e, reader.decoder())?);
            }
            Event::Empty(e) => {
                let n = element(&e, reader.decoder())?;
                if let Some(top) = stack.last_mut() {
                    top.children.push(n);
                }
            }
            Event::End(_) => {
                let n = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(top) => top.children.push(n),
                    None => return Err("unbalanced end tag".into()),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                let s = quick_xml::escape::unescape(&s).map_err(|e| e.to_string())?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                // entity and character references inside text
                let name = String::from_utf8_lossy(&r).to_string();
                let resolved = match name.as_str() {
                    "amp" => "&".to_string(),
                    "lt" => "<".into(),
                    "gt" => ">".into(),
                    "quot" => "\"".into(),
                    "apos" => "'".into(),
                    n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                        .map(String::from)
                        .unwrap_or_default(),
                    n if n.starts_with('#') => n[1..]
                        .parse::<u32>()
                        .ok()
                        .and_then(char::from_u32)
                        .map(String::from)
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("the document ends inside an element".into());
    }
    Ok(stack.pop().unwrap_or_default())
}

fn element(e: &quick_xml::events::BytesStart, decoder: quick_xml::encoding::Decoder) -> Result<Node, String> {
    let mut n = Node {
        name: local(e.name().as_ref()),
        ..Node::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let v = a
            .decode_and_unescape_value(decoder)
            .map_err(|e| e.to_string())?
            .to_string();
        n.attrs.push((local(a.key.as_ref()), v));
    }
    Ok(n)
}

/// Whether coordinates in `srs` come latitude first.
fn north_first(srs: Option<&str>) -> bool {
    let Some(s) = srs else { return false };
    let code = s.rsplit([':', '/']).next().and_then(|c| c.parse::<u32>().ok());
    let long_form = s.starts_with("urn:") || s.starts_with("http");
    long_form && matches!(code, Some(4326 | 4258 | 4171 | 4275 | 4230 | 4807))
}

fn coords(text: &str, dim: usize, flip: bool) -> Result<Vec<Value>, String> {
    let nums: Vec<f64> = text
        .split_whitespace()
        .map(|t| t.parse::<f64>().map_err(|_| format!("not a coordinate: {t}")))
        .collect::<Result<_, _>>()?;
    if dim == 0 || !nums.len().is_multiple_of(dim) {
        return Err(format!(
            "{} numbers do not make {dim}-dimensional positions",
            nums.len()
        ));
    }
    Ok(nums
        .chunks(dim)
        .map(|c| if flip { json!([c[1], c[0]]) } else { json!([c[0], c[1]]) })
        .collect())
}

struct Ctx {
    flip: bool,
    dim: usize,
}

fn ctx(n: &Node, parent: &Ctx) -> Ctx {
    let flip = match n.attr("srsName") {
        Some(s) => north_first(Some(s)),
        None => parent.flip,
    };
    let dim = n
        .attr("srsDimension")
        .and_then(|d| d.parse().ok())
        .unwrap_or(parent.dim);
    Ctx { flip, dim }
}

fn positions(n: &Node, c: &Ctx) -> Result<Vec<Value>, String> {
    if let Some(pl) = n.child("posList") {
        let c2 = ctx(pl, c);
        return coords(&pl.text, c2.dim, c2.flip);
    }
    let mut out = Vec::new();
    for p in n.children.iter().filter(|x| x.name == "pos") {
        let c2 = ctx(p, c);
        out.extend(coords(&p.text, c2.dim, c2.flip)?);
    }
    if let Some(cs) = n.child("coordinates") {
        // GML 2 style "x,y x,y"
        for pair in cs.text.split_whitespace() {
            let v: Vec<f64> = pair.split(',').filter_map(|t| t.parse().ok()).collect();
            if v.len() >= 2 {
                out.push(if c.flip {
                    json!([v[1], v[0]])
                } else {
                    json!([v[0], v[1]])
                });
            }
        }
    }
    Ok(out)
}

fn ring(n: &Node, c: &Ctx) -> Result<Vec<Value>, String> {
    let r = n.find("LinearRing").ok_or("a polygon boundary without LinearRing")?;
    let c2 = ctx(r, c);
    positions(r, &c2)
}

fn polygon_rings(p: &Node, c: &Ctx) -> Result<Vec<Value>, String> {
    let c = ctx(p, c);
    let mut rings = Vec::new();
    for b in &p.children {
        if matches!(
            b.name.as_str(),
            "exterior" | "outerBoundaryIs" | "interior" | "innerBoundaryIs"
        ) {
            rings.push(Value::Array(ring(b, &c)?));
        }
    }
    Ok(rings)
}

fn geometry(n: &Node, parent: &Ctx) -> Result<Value, String> {
    let c = ctx(n, parent);
    let members = |names: &[&str], f: &dyn Fn(&Node, &Ctx) -> Result<Value, String>| -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        for m in &n.children {
            if names.contains(&m.name.as_str()) {
                for g in &m.children {
                    out.push(f(g, &c)?);
                }
            }
        }
        Ok(out)
    };
    Ok(match n.name.as_str() {
        "Point" => {
            let p = positions(n, &c)?;
            json!({"type": "Point", "coordinates": p.into_iter().next().ok_or("a Point without position")?})
        }
        "LineString" => json!({"type": "LineString", "coordinates": positions(n, &c)?}),
        "Curve" => {
            let mut pts = Vec::new();
            if let Some(segs) = n.child("segments") {
                for s in &segs.children {
                    let c2 = ctx(s, &c);
                    let mut p = positions(s, &c2)?;
                    if !pts.is_empty() && !p.is_empty() && pts.last() == p.first() {
                        p.remove(0);
                    }
                    pts.extend(p);
                }
            }
            json!({"type": "LineString", "coordinates": pts})
        }
        "Polygon" => json!({"type": "Polygon", "coordinates": polygon_rings(n, &c)?}),
        "Surface" => {
            let patch = n.find("PolygonPatch").ok_or("a Surface without PolygonPatch")?;
            json!({"type": "Polygon", "coordinates": polygon_rings(patch, &c)?})
        }
        "MultiPoint" => {
            let pts = members(&["pointMember", "pointMembers"], &|g, c| {
                geometry(g, c).map(|v| v["coordinates"].clone())
            })?;
            json!({"type": "MultiPoint", "coordinates": pts})
        }
        "MultiCurve" | "MultiLineString" => {
            let lines = members(&["curveMember", "curveMembers", "lineStringMember"], &|g, c| {
                geometry(g, c).map(|v| v["coordinates"].clone())
            })?;
            json!({"type": "MultiLineString", "coordinates": lines})
        }
        "MultiSurface" | "MultiPolygon" => {
            let polys = members(&["surfaceMember", "surfaceMembers", "polygonMember"], &|g, c| {
                geometry(g, c).map(|v| v["coordinates"].clone())
            })?;
            json!({"type": "MultiPolygon", "coordinates": polys})
        }
        other => return Err(format!("unsupported GML geometry {other}")),
    })
}

const GEOMETRIES: [&str; 11] = [
    "Point",
    "LineString",
    "Curve",
    "Polygon",
    "Surface",
    "MultiPoint",
    "MultiCurve",
    "MultiLineString",
    "MultiSurface",
    "MultiPolygon",
    "MultiGeometry",
];

fn feature(f: &Node) -> Result<Value, String> {
    let mut props = Map::new();
    let mut geom = Value::Null;
    let top = Ctx { flip: false, dim: 2 };
    for p in &f.children {
        if p.name == "boundedBy" {
            continue;
        }
        if let Some(g) = p.children.iter().find(|g| GEOMETRIES.contains(&g.name.as_str())) {
            if geom.is_null() {
                geom = geometry(g, &top)?;
            }
            continue;
        }
        let nil = p.attr("nil") == Some("true");
        props.insert(
            p.name.clone(),
            if nil {
                Value::Null
            } else {
                Value::String(p.text.clone())
            },
        );
    }
    let mut out = json!({"type": "Feature", "properties": props, "geometry": geom});
    if let Some(id) = f.attr("id") {
        out["id"] = Value::String(id.to_string());
    }
    Ok(out)
}

/// The features of a WFS 2.0 GML reply (`wfs:member` elements, or GML 2/3.1 `featureMember`).
pub fn features(xml: &str) -> Result<Vec<Value>, String> {
    let root = parse_tree(xml)?;
    let fc = root.children.first().ok_or("an empty document")?;
    let mut out = Vec::new();
    for m in &fc.children {
        if matches!(m.name.as_str(), "member" | "featureMember" | "featureMembers") {
            for f in &m.children {
                out.push(feature(f)?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<wfs:FeatureCollection xmlns:ms="http://mapserver.gis.umn.edu/mapserver" xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:wfs="http://www.opengis.net/wfs/2.0" numberMatched="2" numberReturned="2">
  <wfs:member>
    <ms:obs gml:id="obs.1">
      <gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs:EPSG::2154"><gml:lowerCorner>1 2</gml:lowerCorner><gml:upperCorner>1 2</gml:upperCorner></gml:Envelope></gml:boundedBy>
      <ms:msGeometry><gml:Point gml:id="obs.1.1" srsName="urn:ogc:def:crs:EPSG::2154"><gml:pos>700000.5 6600000.25</gml:pos></gml:Point></ms:msGeometry>
      <ms:id>1</ms:id>
      <ms:nom_cite>Aigle royal &amp; Gypaète</ms:nom_cite>
      <ms:commune>Gap</ms:commune>
    </ms:obs>
  </wfs:member>
  <wfs:member>
    <ms:obs gml:id="obs.2">
      <ms:msGeometry><gml:Polygon srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing><gml:posList>45 6 45 7 46 7 45 6</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></ms:msGeometry>
      <ms:id>2</ms:id>
      <ms:nom_cite xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>
    </ms:obs>
  </wfs:member>
</wfs:FeatureCollection>"#;

    #[test]
    fn gml_features_are_read_with_axis_order() {
        let f = features(REPLY).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0]["id"], "obs.1");
        assert_eq!(f[0]["properties"]["nom_cite"], "Aigle royal & Gypaète");
        assert_eq!(f[0]["properties"]["id"], "1");
        assert_eq!(
            f[0]["geometry"],
            json!({"type": "Point", "coordinates": [700000.5, 6600000.25]})
        );
        // urn EPSG::4326 is latitude first: swapped to x = longitude
        assert_eq!(f[1]["geometry"]["coordinates"][0][0], json!([6.0, 45.0]));
        assert_eq!(f[1]["properties"]["nom_cite"], Value::Null);
    }

    #[test]
    fn hostile_gml_is_refused() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(features(&deep).is_err());
        assert!(features("<a><b></a>").is_err());
    }
}
