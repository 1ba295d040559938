//! EWKB in, every geometry encoding out (WKT, GeoJSON, GeoPackage binary, shapefile shapes), by
//! geozero; plus the few facts read straight from the WKB header (type, emptiness).

use crate::{ExportError, Result};
use geozero::geojson::GeoJsonWriter;
use geozero::wkb::Ewkb;
use geozero::{CoordDimensions, GeomProcessor, GeozeroGeometry, ToGeo, ToWkb, ToWkt};

/// OGC simple-feature types, as declared by a column's typmod or read from a WKB header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GeometryKind {
    Unknown,
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    GeometryCollection,
}

impl GeometryKind {
    /// From PostGIS's type names (`postgis_typmod_type`, `GeometryType`): `POINT`, `MultiPolygon`…
    pub fn from_name(name: &str) -> GeometryKind {
        let upper = name.trim().to_ascii_uppercase();
        let base = upper.trim_end_matches(['Z', 'M']).trim_end();
        match base {
            "POINT" => GeometryKind::Point,
            "LINESTRING" => GeometryKind::LineString,
            "POLYGON" => GeometryKind::Polygon,
            "MULTIPOINT" => GeometryKind::MultiPoint,
            "MULTILINESTRING" => GeometryKind::MultiLineString,
            "MULTIPOLYGON" => GeometryKind::MultiPolygon,
            "GEOMETRYCOLLECTION" => GeometryKind::GeometryCollection,
            _ => GeometryKind::Unknown,
        }
    }

    fn from_wkb_code(code: u32) -> GeometryKind {
        match code % 1000 {
            1 => GeometryKind::Point,
            2 => GeometryKind::LineString,
            3 => GeometryKind::Polygon,
            4 => GeometryKind::MultiPoint,
            5 => GeometryKind::MultiLineString,
            6 => GeometryKind::MultiPolygon,
            7 => GeometryKind::GeometryCollection,
            _ => GeometryKind::Unknown,
        }
    }

    /// Name used in GeoPackage's `gpkg_geometry_columns.geometry_type_name`.
    pub fn gpkg_name(self) -> &'static str {
        match self {
            GeometryKind::Unknown => "GEOMETRY",
            GeometryKind::Point => "POINT",
            GeometryKind::LineString => "LINESTRING",
            GeometryKind::Polygon => "POLYGON",
            GeometryKind::MultiPoint => "MULTIPOINT",
            GeometryKind::MultiLineString => "MULTILINESTRING",
            GeometryKind::MultiPolygon => "MULTIPOLYGON",
            GeometryKind::GeometryCollection => "GEOMETRYCOLLECTION",
        }
    }

    /// The shapefile layer that holds geometries of this kind.
    pub fn shape_layer(self) -> Option<ShapeLayerKind> {
        match self {
            GeometryKind::Point => Some(ShapeLayerKind::Point),
            GeometryKind::MultiPoint => Some(ShapeLayerKind::MultiPoint),
            GeometryKind::LineString | GeometryKind::MultiLineString => Some(ShapeLayerKind::LineString),
            GeometryKind::Polygon | GeometryKind::MultiPolygon => Some(ShapeLayerKind::Polygon),
            GeometryKind::Unknown | GeometryKind::GeometryCollection => None,
        }
    }
}

/// Shapefile geometry types: one layer (one .shp) per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShapeLayerKind {
    Point,
    MultiPoint,
    LineString,
    Polygon,
}

impl ShapeLayerKind {
    pub fn name(self) -> &'static str {
        match self {
            ShapeLayerKind::Point => "point",
            ShapeLayerKind::MultiPoint => "multipoint",
            ShapeLayerKind::LineString => "linestring",
            ShapeLayerKind::Polygon => "polygon",
        }
    }

    /// ESRI shape type code.
    pub(crate) fn shape_type(self) -> i32 {
        match self {
            ShapeLayerKind::Point => 1,
            ShapeLayerKind::LineString => 3,
            ShapeLayerKind::Polygon => 5,
            ShapeLayerKind::MultiPoint => 8,
        }
    }
}

/// The geometry type in a (E)WKB header.
pub fn wkb_kind(wkb: &[u8]) -> Result<GeometryKind> {
    if wkb.len() < 5 {
        return Err(ExportError::Geometry("WKB shorter than its header".into()));
    }
    let bytes = [wkb[1], wkb[2], wkb[3], wkb[4]];
    let code = match wkb[0] {
        0 => u32::from_be_bytes(bytes),
        1 => u32::from_le_bytes(bytes),
        b => return Err(ExportError::Geometry(format!("WKB byte order {b} is neither 0 nor 1"))),
    };
    // EWKB keeps Z/M/SRID in the high bits; ISO WKB adds 1000s.
    Ok(GeometryKind::from_wkb_code(code & 0x0FFF_FFFF))
}

fn geometry_error(e: impl std::fmt::Display) -> ExportError {
    ExportError::Geometry(e.to_string())
}

pub(crate) fn to_wkt(ewkb: &[u8]) -> Result<String> {
    Ewkb(ewkb).to_wkt().map_err(geometry_error)
}

/// GeoJSON geometry object, appended to `out`.
pub(crate) fn write_geojson(ewkb: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut writer = GeoJsonWriter::new(out);
    Ewkb(ewkb).process_geom(&mut writer).map_err(geometry_error)
}

/// GeoPackage binary geometry (header with SRID, envelope for everything but points, then WKB),
/// and the bounding box for the layer extent.
pub(crate) fn to_gpkg(ewkb: &[u8], srid: Option<i32>) -> Result<(Vec<u8>, Option<Envelope>)> {
    let envelope = envelope(ewkb)?;
    let header_envelope = match (wkb_kind(ewkb)?, envelope) {
        (GeometryKind::Point, _) | (_, None) => Vec::new(),
        (_, Some(e)) => vec![e.min_x, e.max_x, e.min_y, e.max_y],
    };
    let blob = Ewkb(ewkb)
        .to_gpkg_wkb(CoordDimensions::xy(), srid, header_envelope)
        .map_err(geometry_error)?;
    Ok((blob, envelope))
}

pub(crate) fn to_geo(ewkb: &[u8]) -> Result<geo_types::Geometry<f64>> {
    Ewkb(ewkb).to_geo().map_err(geometry_error)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Envelope {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl Envelope {
    pub(crate) fn merge(self, other: Envelope) -> Envelope {
        Envelope {
            min_x: self.min_x.min(other.min_x),
            min_y: self.min_y.min(other.min_y),
            max_x: self.max_x.max(other.max_x),
            max_y: self.max_y.max(other.max_y),
        }
    }
}

#[derive(Default)]
struct EnvelopeProcessor(Option<Envelope>);

impl GeomProcessor for EnvelopeProcessor {
    fn xy(&mut self, x: f64, y: f64, _idx: usize) -> geozero::error::Result<()> {
        if x.is_nan() || y.is_nan() {
            return Ok(());
        }
        let point = Envelope {
            min_x: x,
            min_y: y,
            max_x: x,
            max_y: y,
        };
        self.0 = Some(match self.0 {
            Some(e) => e.merge(point),
            None => point,
        });
        Ok(())
    }
}

/// Bounding box of a geometry; `None` when empty.
pub(crate) fn envelope(ewkb: &[u8]) -> Result<Option<Envelope>> {
    let mut processor = EnvelopeProcessor::default();
    Ewkb(ewkb).process_geom(&mut processor).map_err(geometry_error)?;
    Ok(processor.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Little-endian EWKB of POINT(x y) with an SRID.
    pub fn point(x: f64, y: f64, srid: i32) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(&(1u32 | 0x2000_0000).to_le_bytes());
        v.extend_from_slice(&srid.to_le_bytes());
        v.extend_from_slice(&x.to_le_bytes());
        v.extend_from_slice(&y.to_le_bytes());
        v
    }

    /// Little-endian WKB of a square polygon with its lower-left corner at (x, y).
    pub fn square(x: f64, y: f64, side: f64) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&5u32.to_le_bytes());
        for (px, py) in [(x, y), (x, y + side), (x + side, y + side), (x + side, y), (x, y)] {
            v.extend_from_slice(&px.to_le_bytes());
            v.extend_from_slice(&py.to_le_bytes());
        }
        v
    }

    #[test]
    fn encodings() {
        let p = point(6.5, 45.25, 4326);
        assert_eq!(wkb_kind(&p).unwrap(), GeometryKind::Point);
        assert_eq!(to_wkt(&p).unwrap(), "POINT(6.5 45.25)");
        let mut json = Vec::new();
        write_geojson(&p, &mut json).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap().replace(' ', ""),
            r#"{"type":"Point","coordinates":[6.5,45.25]}"#
        );
        let sq = square(1.0, 2.0, 3.0);
        assert_eq!(wkb_kind(&sq).unwrap(), GeometryKind::Polygon);
        let e = envelope(&sq).unwrap().unwrap();
        assert_eq!((e.min_x, e.min_y, e.max_x, e.max_y), (1.0, 2.0, 4.0, 5.0));
        let (blob, _) = to_gpkg(&sq, Some(2154)).unwrap();
        assert_eq!(&blob[..2], b"GP");
        assert_eq!(GeometryKind::from_name("MultiPolygonZ"), GeometryKind::MultiPolygon);
        assert!(wkb_kind(&[9, 0, 0, 0, 0]).is_err());
    }
}
