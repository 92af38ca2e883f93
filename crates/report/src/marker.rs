//! Point markers of several shapes, filled or hollow, as one plotters element: the fit plots tell methods
//! apart by shape and held-out points by a hollow marker; the point charts pair a shape with each colour so
//! no two series look alike.

use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};

/// A marker's outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    Pentagon,
}

/// Every shape, in the order series and methods take them.
pub(crate) const SHAPES: [Shape; 6] =
    [Shape::Circle, Shape::Square, Shape::TriangleUp, Shape::Diamond, Shape::TriangleDown, Shape::Pentagon];

impl Shape {
    /// The outline's vertices around the centre, in pixels, for a marker of about `r` pixels' radius (a
    /// circle is drawn as one; this 20-gon only sizes it among the others).
    fn vertices(self, r: f64) -> Vec<(f64, f64)> {
        // Equal areas look equally heavy: a square or triangle of the circle's radius looks larger.
        let polygon = |n: usize, radius: f64, phase: f64| -> Vec<(f64, f64)> {
            (0..n)
                .map(|k| {
                    let a = phase + std::f64::consts::TAU * k as f64 / n as f64;
                    (radius * a.cos(), radius * a.sin())
                })
                .collect()
        };
        let up = -std::f64::consts::FRAC_PI_2;
        match self {
            Shape::Circle => polygon(20, r, 0.0),
            Shape::Square => polygon(4, 1.2 * r, std::f64::consts::FRAC_PI_4),
            Shape::TriangleUp => polygon(3, 1.4 * r, up),
            Shape::Diamond => polygon(4, 1.3 * r, 0.0),
            Shape::TriangleDown => polygon(3, 1.4 * r, -up),
            Shape::Pentagon => polygon(5, 1.2 * r, up),
        }
    }
}

/// One marker at `at` (any coordinate a chart maps to pixels, or pixels themselves).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marker<C> {
    pub at: C,
    pub shape: Shape,
    /// About the radius, in pixels.
    pub size: f64,
    pub colour: RGBColor,
    /// White inside, coloured outline.
    pub hollow: bool,
}

impl<'a, C: 'a> PointCollection<'a, C> for &'a Marker<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for Marker<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = pos.next() else { return Ok(()) };
        if self.shape == Shape::Circle {
            // plotters' own filled circles (its rasteriser shades the edge pixels; its outlined ones come out
            // blocky): a hollow one is a white disc on a coloured one.
            let r = self.size.round().max(2.0) as u32;
            backend.draw_circle((x, y), r, &self.colour.filled(), true)?;
            if self.hollow {
                backend.draw_circle((x, y), r - (r / 2).min(2), &WHITE.filled(), true)?;
            }
            return Ok(());
        }
        let pts: Vec<BackendCoord> = self
            .shape
            .vertices(self.size)
            .into_iter()
            .map(|(dx, dy)| (x + dx.round() as i32, y + dy.round() as i32))
            .collect();
        let fill = if self.hollow { WHITE.filled() } else { self.colour.filled() };
        let stroke = self.colour.stroke_width(if self.hollow { 2 } else { 1 });
        backend.fill_polygon(pts.iter().copied(), &fill)?;
        backend.draw_path(pts.iter().copied().chain(pts.first().copied()), &stroke)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_differ_and_stay_near_their_size() {
        for (i, a) in SHAPES.iter().enumerate() {
            let v = a.vertices(4.0);
            assert!(v.iter().all(|(x, y)| x.hypot(*y) <= 4.0 * 1.4 + 1e-9), "{a:?}");
            for b in &SHAPES[i + 1..] {
                assert_ne!(v, b.vertices(4.0), "{a:?} and {b:?}");
            }
        }
    }
}
