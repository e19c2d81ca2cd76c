//! Line plots as PNG files, for the notebook cells that call `plt.plot`.
//!
//! A `Figure` holds the plotted series; `write_png` draws it with plotters into the
//! chapter's output folder (first to a temporary file, renamed when complete, so no
//! half-written image is left behind) and `summary` describes the series in rounded
//! numbers for the snapshot, which never holds pixels.
//!
//! Labels are drawn in DejaVu Sans, which the `dejavu` crate ships, so no font needs to
//! be installed; `CROSSENT_FONT=/path/to/font.ttf` chooses another.

use crate::notebook::FigureRecord;
use anyhow::{anyhow, bail, Context, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Line {
    /// A solid line, as `plt.plot` draws by default.
    Solid,
    /// `linestyle=':'`, with the given stroke width (`linewidth=6` in the notebook).
    Dotted {
        /// The stroke width in pixels.
        width: u32,
    },
}

/// One plotted line.
#[derive(Clone, Debug)]
pub struct Series {
    /// Its legend label.
    pub label: String,
    /// Its x values.
    pub x: Vec<f64>,
    /// Its y values, one per x.
    pub y: Vec<f64>,
    /// How it is drawn.
    pub line: Line,
}

impl Series {
    /// A solid line through the points `(x[i], y[i])`.
    pub fn solid(label: &str, x: Vec<f64>, y: Vec<f64>) -> Self {
        Self {
            label: label.into(),
            x,
            y,
            line: Line::Solid,
        }
    }
}

/// A figure: a title, axis labels and one or more series.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The file name without `.png`.
    pub name: String,
    /// The title above the plot.
    pub title: String,
    /// The x axis's label.
    pub x_label: String,
    /// The y axis's label.
    pub y_label: String,
    /// The lines, drawn in order.
    pub series: Vec<Series>,
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

impl Figure {
    /// A deterministic description of the plotted data: per series its length, ranges and
    /// five points spread along it, rounded to 4 decimals.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!(
            "{} (x: {}, y: {})",
            self.title, self.x_label, self.y_label
        )];
        for s in &self.series {
            let n = s.x.len();
            let picks: Vec<usize> = if n == 0 {
                vec![]
            } else {
                let mut p: Vec<usize> = (0..5).map(|k| k * (n - 1) / 4).collect();
                p.dedup();
                p
            };
            let points: Vec<String> = picks
                .iter()
                .map(|&i| format!("({}, {})", round4(s.x[i]), round4(s.y[i])))
                .collect();
            let style = match s.line {
                Line::Solid => "solid".to_string(),
                Line::Dotted { width } => format!("dotted, width {width}"),
            };
            lines.push(format!(
                "series '{}' ({style}): {n} points, x in [{}, {}], y in [{}, {}]; at 0, 1/4, 1/2, 3/4, end: {}",
                s.label,
                round4(min(&s.x)),
                round4(max(&s.x)),
                round4(min(&s.y)),
                round4(max(&s.y)),
                points.join(" ")
            ));
        }
        lines.join("\n")
    }

    /// Draws the figure to `dir/<name>.png`.
    pub fn write_png(&self, dir: &Path) -> Result<FigureRecord> {
        ensure_font()?;
        let file = write_atomically(dir, &self.name, |path| self.draw(path))?;
        Ok(FigureRecord {
            relative_path: file,
            summary: self.summary(),
        })
    }

    fn draw(&self, path: &Path) -> Result<()> {
        let all_x: Vec<f64> = self.series.iter().flat_map(|s| s.x.clone()).collect();
        let all_y: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.y.iter().copied().filter(|v| v.is_finite()))
            .collect();
        if all_x.is_empty() || all_y.is_empty() {
            bail!("figure '{}' has no finite points to plot", self.name);
        }
        let (x0, x1) = padded(min(&all_x), max(&all_x), 0.0);
        let (y0, y1) = padded(min(&all_y), max(&all_y), 0.05);
        let plot_err = |e: &dyn std::fmt::Display| anyhow!("plotting failed: {e}");
        let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 26))
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| plot_err(&e))?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(("sans-serif", 18))
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(|e| plot_err(&e))?;
        for (k, s) in self.series.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let points: Vec<(f64, f64)> =
                s.x.iter()
                    .zip(&s.y)
                    .filter(|(_, y)| y.is_finite())
                    .map(|(&x, &y)| (x, y))
                    .collect();
            let drawn = match s.line {
                // Thick strokes over thousands of points draw spikes past the axes.
                Line::Solid => chart
                    .draw_series(LineSeries::new(
                        points,
                        color.stroke_width(if s.x.len() > 500 { 1 } else { 3 }),
                    ))
                    .map_err(|e| plot_err(&e))?,
                Line::Dotted { width } => chart
                    .draw_series(DashedLineSeries::new(
                        points,
                        width,
                        2 * width,
                        color.stroke_width(width),
                    ))
                    .map_err(|e| plot_err(&e))?,
            };
            drawn.label(s.label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        }
        if self.series.len() > 1 {
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 16))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| plot_err(&e))?;
        }
        root.present().map_err(|e| plot_err(&e))?;
        Ok(())
    }
}

/// Writes a grayscale image (`plt.imshow` with the gray colour map): `pixels` row-major
/// in [0, 1], each drawn as a `scale`×`scale` square, to `dir/<name>.png`.
pub fn write_gray_image(
    dir: &Path,
    name: &str,
    pixels: &[f32],
    (rows, cols): (usize, usize),
    scale: u32,
) -> Result<FigureRecord> {
    if pixels.len() != rows * cols {
        bail!(
            "an image of {rows}x{cols} needs {} pixels, got {}",
            rows * cols,
            pixels.len()
        );
    }
    let file = write_atomically(dir, name, |path| {
        let plot_err = |e: &dyn std::fmt::Display| anyhow!("drawing failed: {e}");
        let size = (cols as u32 * scale, rows as u32 * scale);
        let root = BitMapBackend::new(path, size).into_drawing_area();
        for (k, &v) in pixels.iter().enumerate() {
            let level = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            let (r, c) = ((k / cols) as i32, (k % cols) as i32);
            let s = scale as i32;
            root.draw(&Rectangle::new(
                [(c * s, r * s), (c * s + s, r * s + s)],
                RGBColor(level, level, level).filled(),
            ))
            .map_err(|e| plot_err(&e))?;
        }
        root.present().map_err(|e| plot_err(&e))?;
        Ok(())
    })?;
    let mean = pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / pixels.len() as f64;
    Ok(FigureRecord {
        relative_path: file,
        summary: format!(
            "{rows}x{cols} gray image, drawn {scale}x; mean pixel {}",
            round4(mean)
        ),
    })
}

/// Writes `dir/<name>.png` with `draw`, which is handed a uniquely named temporary file
/// in `dir` and renamed into place only when it is complete; on any failure the temporary
/// file is removed. Concurrent runs writing into one folder therefore never collide, and
/// no half-written image is ever left under its final name. Returns the file's name.
fn write_atomically(
    dir: &Path,
    name: &str,
    draw: impl FnOnce(&Path) -> Result<()>,
) -> Result<String> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the output folder {}; choose another with --out",
            dir.display()
        )
    })?;
    let file = format!("{name}.png");
    crate::files::write_with(dir, &file, "; choose another folder with --out", draw)?;
    Ok(file)
}

/// The project's build output: the cargo target directory the chapters were built in.
pub fn build_output_dir() -> PathBuf {
    option_env!("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// A chapter's output folder: `out`, else `default_out_dir(chapter)`, created before
/// the first cell runs so that an unusable `--out` is one error up front rather than a
/// failure halfway through the chapter.
pub fn prepare_out_dir(out: Option<&Path>, chapter: &str) -> Result<PathBuf> {
    let dir = out.map_or_else(|| default_out_dir(chapter), Path::to_path_buf);
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the output folder {}; choose another with --out",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// The default output folder of a chapter's figures: `figures/<chapter>` in the build
/// output.
pub fn default_out_dir(chapter: &str) -> PathBuf {
    build_output_dir().join("figures").join(chapter)
}

fn round4(x: f64) -> String {
    if x.is_finite() {
        let s = format!("{x:.4}");
        if s == "-0.0000" {
            "0.0000".into()
        } else {
            s
        }
    } else {
        crate::pt::py_fixed(x, 4)
    }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// A drawable range: widened by `share` of its span, and around a flat line.
fn padded(lo: f64, hi: f64, share: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * share;
        (lo - pad, hi + pad)
    } else {
        let pad = lo.abs().max(1.0) * 0.5;
        (lo - pad, hi + pad)
    }
}

/// The largest font file `CROSSENT_FONT` may name: real TrueType fonts are far smaller,
/// and a device or a huge file is refused before it is read.
const MAX_FONT_BYTES: u64 = 32 << 20;

/// Registers a font for plotters once per process: the file `CROSSENT_FONT` names, else
/// DejaVu Sans as the `dejavu` crate ships it (nothing needs to be installed).
fn ensure_font() -> Result<()> {
    static FONT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let (bytes, name): (&'static [u8], String) = match std::env::var_os("CROSSENT_FONT") {
            Some(path) => {
                let path = PathBuf::from(path);
                let bytes = read_font(&path)?;
                (
                    Box::leak(bytes.into_boxed_slice()),
                    path.display().to_string(),
                )
            }
            None => (dejavu::sans::regular(), "DejaVu Sans".to_string()),
        };
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| {
            format!("{name} is not a usable TrueType font; set CROSSENT_FONT to another")
        })
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Reads the font file `CROSSENT_FONT` names: a regular file of at most `MAX_FONT_BYTES`.
fn read_font(path: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |what: String| {
        format!(
            "cannot use the font {} (CROSSENT_FONT): {what}; unset CROSSENT_FONT to use the \
             built-in DejaVu Sans",
            path.display()
        )
    };
    let file = std::fs::File::open(path).map_err(|e| cannot(e.to_string()))?;
    let meta = file.metadata().map_err(|e| cannot(e.to_string()))?;
    if !meta.is_file() {
        return Err(cannot("not a regular file".into()));
    }
    if meta.len() > MAX_FONT_BYTES {
        return Err(cannot(format!(
            "{} bytes, more than the {MAX_FONT_BYTES} a font may have",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FONT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(e.to_string()))?;
    if bytes.len() as u64 > MAX_FONT_BYTES {
        return Err(cannot("it grew past the size a font may have".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_rounds_and_samples() {
        let x: Vec<f64> = (0..9).map(|i| i as f64 / 8.0).collect();
        let y: Vec<f64> = x.iter().map(|v| -v).collect();
        let fig = Figure {
            name: "t".into(),
            title: "T".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series::solid("line", x, y)],
        };
        assert_eq!(
            fig.summary(),
            "T (x: x, y: y)\nseries 'line' (solid): 9 points, x in [0.0000, 1.0000], \
             y in [-1.0000, 0.0000]; at 0, 1/4, 1/2, 3/4, end: (0.0000, 0.0000) \
             (0.2500, -0.2500) (0.5000, -0.5000) (0.7500, -0.7500) (1.0000, -1.0000)"
        );
    }

    #[test]
    fn flat_ranges_get_room() {
        let (lo, hi) = padded(-0.0214, -0.0214, 0.05);
        assert!(lo < -0.0214 && hi > -0.0214);
    }
}
