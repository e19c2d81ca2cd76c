//! PyTorch's indexing rules (`x[key]`) as flat element indices: ints and slices pick
//! along one dimension, `None` adds one, and index tensors (long, or a bool mask standing
//! for its nonzero positions) broadcast together into one block of dimensions, placed
//! where they stand when adjacent and first otherwise.

/// One item of an indexing key, normalised by the Python layer.
#[derive(Clone, Debug)]
pub enum IndexItem {
    /// An integer: picks one position and drops the dimension.
    Int(i64),
    /// A slice with its bounds already resolved against the dimension.
    Slice { start: i64, stop: i64, step: i64 },
    /// `None`: a new dimension of size 1.
    NewAxis,
    /// A long tensor of positions.
    Tensor {
        dims: Vec<usize>,
        values: Vec<i64>,
        unseeded: bool,
    },
    /// A bool mask over as many dimensions as it has.
    Mask {
        dims: Vec<usize>,
        values: Vec<bool>,
        unseeded: bool,
    },
}

/// What one output dimension contributes to the flat source index, per position.
enum Axis {
    Fixed(Vec<usize>),
    Advanced,
}

/// The flat indices of `key` into a tensor of `shape`, the result's shape, and whether an
/// index came from unseeded draws; an index out of range is PyTorch's message.
pub fn flat_indices(
    shape: &[usize],
    key: &[IndexItem],
) -> Result<(Vec<usize>, Vec<usize>, bool), String> {
    let strides: Vec<usize> = (0..shape.len())
        .map(|d| shape[d + 1..].iter().product())
        .collect();
    let mut dim = 0;
    let mut base = 0usize;
    let mut axes: Vec<(Axis, usize)> = Vec::new(); // (contribution, size)
    let mut advanced: Vec<(Vec<usize>, Vec<i64>, Vec<usize>)> = Vec::new(); // dims, values, source dims
    let mut advanced_at: Option<usize> = None;
    let mut advanced_adjacent = true;
    let mut last_was_advanced = false;
    let mut unseeded = false;
    let consumed = key.iter().map(|k| match k {
        IndexItem::NewAxis => 0,
        IndexItem::Mask { dims, .. } => dims.len(),
        _ => 1,
    });
    if consumed.sum::<usize>() > shape.len() {
        return Err(format!(
            "too many indices for tensor of dimension {}",
            shape.len()
        ));
    }
    for item in key {
        let is_advanced = matches!(item, IndexItem::Tensor { .. } | IndexItem::Mask { .. });
        if is_advanced {
            if advanced_at.is_none() {
                advanced_at = Some(axes.len());
                axes.push((Axis::Advanced, 0));
            } else if !last_was_advanced {
                advanced_adjacent = false;
            }
        }
        last_was_advanced = is_advanced;
        match item {
            IndexItem::Int(i) => {
                let size = shape[dim];
                let j = if *i < 0 { *i + size as i64 } else { *i };
                if j < 0 || j >= size as i64 {
                    return Err(format!(
                        "index {i} is out of bounds for dimension {dim} with size {size}"
                    ));
                }
                base += j as usize * strides[dim];
                dim += 1;
            }
            IndexItem::Slice { start, stop, step } => {
                let mut positions = Vec::new();
                let mut p = *start;
                while p < *stop {
                    positions.push(p as usize * strides[dim]);
                    p += step;
                }
                let n = positions.len();
                axes.push((Axis::Fixed(positions), n));
                dim += 1;
            }
            IndexItem::NewAxis => axes.push((Axis::Fixed(vec![0]), 1)),
            IndexItem::Tensor {
                dims,
                values,
                unseeded: u,
            } => {
                unseeded |= u;
                let size = shape[dim] as i64;
                let mut wrapped = Vec::with_capacity(values.len());
                for &v in values {
                    let j = if v < 0 { v + size } else { v };
                    if j < 0 || j >= size {
                        return Err(format!(
                            "index {v} is out of bounds for dimension {dim} with size {size}"
                        ));
                    }
                    wrapped.push(j);
                }
                advanced.push((dims.clone(), wrapped, vec![dim]));
                dim += 1;
            }
            IndexItem::Mask {
                dims,
                values,
                unseeded: u,
            } => {
                unseeded |= u;
                if dims[..] != shape[dim..dim + dims.len()] {
                    return Err(format!(
                        "The shape of the mask {:?} at index {dim} does not match the shape of the indexed tensor {:?}",
                        dims,
                        &shape[dim..dim + dims.len()]
                    ));
                }
                // Its nonzero positions, one index vector per dimension it covers.
                let mask_strides: Vec<usize> = (0..dims.len())
                    .map(|d| dims[d + 1..].iter().product())
                    .collect();
                let hits: Vec<usize> = values
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b)
                    .map(|(i, _)| i)
                    .collect();
                let mut per_dim = Vec::new();
                for (d, &s) in mask_strides.iter().enumerate() {
                    per_dim.push(
                        hits.iter()
                            .map(|&h| ((h / s) % dims[d]) as i64)
                            .collect::<Vec<_>>(),
                    );
                }
                let mut flat_values = Vec::with_capacity(hits.len());
                for k in 0..hits.len() {
                    let mut offset = 0i64;
                    for (d, column) in per_dim.iter().enumerate() {
                        offset += column[k] * strides[dim + d] as i64;
                    }
                    flat_values.push(offset);
                }
                // Stored as offsets already multiplied by the strides (source dim marked empty).
                advanced.push((vec![hits.len()], flat_values, vec![]));
                dim += dims.len();
            }
        }
    }
    for d in dim..shape.len() {
        axes.push((
            Axis::Fixed((0..shape[d]).map(|i| i * strides[d]).collect()),
            shape[d],
        ));
    }
    // The advanced block: its indices broadcast together.
    let mut advanced_offsets = Vec::new();
    let mut advanced_shape = Vec::new();
    if !advanced.is_empty() {
        for (dims, _, _) in &advanced {
            advanced_shape = broadcast(&advanced_shape, dims)?;
        }
        let n: usize = advanced_shape.iter().product();
        advanced_offsets = vec![0usize; n];
        for (dims, values, source) in &advanced {
            for (k, offset) in advanced_offsets.iter_mut().enumerate() {
                let v = values[broadcast_position(k, &advanced_shape, dims)];
                *offset += match source.first() {
                    Some(&d) => v as usize * strides[d],
                    None => v as usize,
                };
            }
        }
    }
    if !advanced_adjacent {
        if let Some(at) = advanced_at {
            let block = axes.remove(at);
            axes.insert(0, block);
        }
    }
    let mut out_shape = Vec::new();
    for (axis, size) in &axes {
        match axis {
            Axis::Advanced => out_shape.extend(&advanced_shape),
            Axis::Fixed(_) => out_shape.push(*size),
        }
    }
    let mut flat = vec![base];
    for (axis, _) in &axes {
        let column: &[usize] = match axis {
            Axis::Advanced => &advanced_offsets,
            Axis::Fixed(positions) => positions,
        };
        let mut next = Vec::with_capacity(flat.len() * column.len());
        for &f in &flat {
            for &c in column {
                next.push(f + c);
            }
        }
        flat = next;
    }
    Ok((flat, out_shape, unseeded))
}

fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
            let y = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
            match (x, y) {
                _ if x == y || y == 1 => Ok(x),
                _ if x == 1 => Ok(y),
                _ => Err(format!("shape mismatch: indexing tensors could not be broadcast together with shapes {a:?}, {b:?}")),
            }
        })
        .collect()
}

/// The flat position in an array of `dims` of element `k` of its broadcast to `shape`.
fn broadcast_position(k: usize, shape: &[usize], dims: &[usize]) -> usize {
    let mut rest = k;
    let mut position = 0;
    let mut stride = 1;
    for i in (0..shape.len()).rev() {
        let coordinate = rest % shape[i];
        rest /= shape[i];
        let j = i as isize - (shape.len() - dims.len()) as isize;
        if j >= 0 {
            let d = dims[j as usize];
            if d != 1 {
                position += coordinate * stride;
            }
            stride *= d;
        }
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_picked_by_targets() {
        let key = [
            IndexItem::Tensor {
                dims: vec![2],
                values: vec![0, 1],
                unseeded: false,
            },
            IndexItem::Tensor {
                dims: vec![2],
                values: vec![2, 0],
                unseeded: false,
            },
        ];
        assert_eq!(
            flat_indices(&[2, 3], &key).unwrap(),
            (vec![2, 3], vec![2], false)
        );
    }

    #[test]
    fn slices_ints_and_masks() {
        let key = [
            IndexItem::Int(1),
            IndexItem::Slice {
                start: 0,
                stop: 3,
                step: 2,
            },
        ];
        assert_eq!(flat_indices(&[2, 3], &key).unwrap().0, vec![3, 5]);
        let mask = [IndexItem::Mask {
            dims: vec![2, 2],
            values: vec![true, false, false, true],
            unseeded: false,
        }];
        assert_eq!(
            flat_indices(&[2, 2], &mask).unwrap(),
            (vec![0, 3], vec![2], false)
        );
        assert!(flat_indices(&[2], &[IndexItem::Int(2)])
            .unwrap_err()
            .contains("out of bounds"));
    }
}
