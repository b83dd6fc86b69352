//! Multi-head attention as one op, in place of the dozen tract runs it as.
//!
//! The bundles' graphs split their queries, keys and values into heads with reshapes and
//! transposes, scale the queries, multiply them by the transposed keys, take a softmax over
//! each row and multiply by the values, then transpose and reshape the heads back: each step
//! writes a whole `[heads, tokens, tokens]` or `[heads, tokens, dim]` tensor that the next reads
//! again, and tract packs both products' operands at every run. This op reads each head's
//! vectors where they lie (columns of `[tokens, heads x dim]` rows, or a `[heads, tokens, dim]`
//! tensor such as the decoder's cache), runs both products with the engine's packed product
//! (the scale folded into the first, the softmax's division into the second's output) with its
//! own vectorised exponentials in between, or, for the decoder's single query, dot products
//! with the keys in place, and writes the heads back in place (`tools/bench/FINDINGS.md`, "The
//! encoder's attention"). It runs where the processor has the product's vector paths;
//! elsewhere tract's ops stay.

use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};

use super::matmul::{multiply, Packed, BLOCK};
use super::rewrite::scalar_factor;

/// Fewer queries than this are taken one by one, as dot products with the keys in place: for
/// them, packing the keys and values for the product would cost more than it saves.
const PACK_FROM: usize = 4;

/// How the keys or the values of the heads are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `[B, T, H x D]`, head `h` being columns `h x D .. (h + 1) x D`.
    Rows,
    /// `[B, H, T, D]` (as the decoder takes its caches and the encoder's keys and values).
    Heads,
}

impl Layout {
    /// Where head `head`'s vector of position `t` starts, in a batch item of `len` positions
    /// of `heads x d`: an offset, then a stride per position.
    fn place(self, head: usize, heads: usize, d: usize, len: usize) -> (usize, usize) {
        match self {
            Layout::Rows => (head * d, heads * d),
            Layout::Heads => (head * len * d, d),
        }
    }
}

/// Head `head`'s `len` vectors of `d` in one batch item of `values` laid out as `layout`.
fn head_vectors(
    values: &[f32],
    layout: Layout,
    (head, heads, d): (usize, usize, usize),
    len: usize,
) -> impl Iterator<Item = &[f32]> {
    let (offset, stride) = layout.place(head, heads, d, len);
    (0..len).map(move |t| &values[offset + t * stride..][..d])
}

/// `softmax(scale * q kᵀ) v` per head, for queries `[B, Tq, H x D]` and keys and values of `Tk`
/// positions (each laid out as [`Layout`] says) -> `[B, Tq, H x D]`, head `h` being columns
/// `h x D .. (h + 1) x D`.
#[derive(Debug, Clone)]
pub(super) struct Attention {
    heads: usize,
    head_dim: usize,
    scale: f32,
    keys: Layout,
    values: Layout,
}

impl PartialEq for Attention {
    fn eq(&self, other: &Attention) -> bool {
        let fields = |a: &Attention| (a.heads, a.head_dim, a.scale.to_bits(), a.keys, a.values);
        fields(self) == fields(other)
    }
}

impl Eq for Attention {}

impl Op for Attention {
    fn name(&self) -> StaticName {
        "Attention".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Attention {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (q, k, v) = (&inputs[0], &inputs[1], &inputs[2]);
        let width = self.heads * self.head_dim;
        let [batch, tq, qw] = *q.shape() else {
            bail!(
                "Attention wants [B, T, H x D] queries, found {:?}",
                q.shape()
            )
        };
        let positions = |t: &TValue, layout: Layout| match (layout, t.shape()) {
            (Layout::Rows, &[b, len, w]) => (b == batch && w == width).then_some(len),
            (Layout::Heads, &[b, h, len, d]) => {
                (b == batch && h == self.heads && d == self.head_dim).then_some(len)
            }
            _ => None,
        };
        let tk = positions(k, self.keys).filter(|&tk| positions(v, self.values) == Some(tk));
        ensure!(
            qw == width && tk.is_some_and(|tk| tk > 0),
            "Attention of {} heads of {}: queries {:?}, keys {:?}, values {:?}",
            self.heads,
            self.head_dim,
            q.shape(),
            k.shape(),
            v.shape()
        );
        let tk = tk.unwrap_or_default();
        let [q, k, v] = [q, k, v].map(|t| t.try_as_plain_ram());
        let (q, k, v) = (q?, k?, v?);
        let (q, k, v) = (
            q.as_slice::<f32>()?,
            k.as_slice::<f32>()?,
            v.as_slice::<f32>()?,
        );
        let output = super::new_f32(&[batch, tq, width], |out| {
            let mut heads = Heads::new(self, tq, tk);
            for b in 0..batch {
                let (q, k, v) = (
                    item(q, b, tq * width),
                    item(k, b, tk * width),
                    item(v, b, tk * width),
                );
                let out = &mut out[b * tq * width..][..tq * width];
                for head in 0..self.heads {
                    if heads.packs {
                        heads.packed(head, q, k, v, out);
                    } else {
                        heads.one_by_one(head, q, k, v, out);
                    }
                }
            }
            Ok(())
        })?;
        Ok(tvec!(output))
    }
}

/// Batch item `b` of items of `len` values.
fn item(values: &[f32], b: usize, len: usize) -> &[f32] {
    &values[b * len..][..len]
}

/// One op run's working buffers.
struct Heads<'a> {
    op: &'a Attention,
    tq: usize,
    tk: usize,
    /// Whether both products are packed (else the queries are taken one by one).
    packs: bool,
    /// One head's queries, `[Tq, D]`.
    queries: Vec<f32>,
    /// One head's keys, transposed and packed as the product's weights, with the scale.
    keys: Vec<f32>,
    key_scale: Vec<f32>,
    key_bias: Vec<f32>,
    /// `[Tq, Tk]`: the scores, then their exponentials.
    scores: Vec<f32>,
    /// Each query's sum of exponentials.
    sums: Vec<f32>,
    /// One head's values, packed as the product's weights.
    values: Vec<f32>,
    value_scale: Vec<f32>,
    value_bias: Vec<f32>,
    /// `[Tq, D]`: the head's output before the softmax's division.
    mixed: Vec<f32>,
}

impl<'a> Heads<'a> {
    /// The buffers for `tq` queries over `tk` keys: those of the packed products only where
    /// they will be packed, one query's where they are taken one by one.
    fn new(op: &'a Attention, tq: usize, tk: usize) -> Heads<'a> {
        let d = op.head_dim;
        let packs = tq >= PACK_FROM;
        let rows = if packs { tq } else { 1 };
        let key_columns = if packs { tk.div_ceil(BLOCK) * BLOCK } else { 0 };
        let value_columns = if packs { d.div_ceil(BLOCK) * BLOCK } else { 0 };
        Heads {
            op,
            tq,
            tk,
            packs,
            queries: vec![0.0; if packs { tq * d } else { 0 }],
            keys: vec![0.0; key_columns * d],
            key_scale: vec![op.scale; key_columns],
            key_bias: vec![0.0; key_columns],
            scores: vec![0.0; rows * tk],
            sums: vec![0.0; rows],
            values: vec![0.0; value_columns * tk],
            value_scale: vec![1.0; value_columns],
            value_bias: vec![0.0; value_columns],
            mixed: vec![0.0; rows * d],
        }
    }

    /// Head `head`'s place for [`head_vectors`] (its index, the count and the size of heads),
    /// with the keys' and values' length.
    fn head(&self, head: usize) -> ((usize, usize, usize), usize) {
        ((head, self.op.heads, self.op.head_dim), self.tk)
    }

    /// Head `head` of one batch item into its columns of `out`, a query at a time: each score a
    /// dot product with a key where it lies, the output a sum of the values where they lie.
    fn one_by_one(&mut self, head: usize, q: &[f32], k: &[f32], v: &[f32], out: &mut [f32]) {
        let (at, tk) = self.head(head);
        let (d, width) = (self.op.head_dim, self.op.heads * self.op.head_dim);
        let queries = head_vectors(q, Layout::Rows, at, self.tq);
        for (query, row) in queries.zip(out.chunks_exact_mut(width)) {
            let scores = &mut self.scores[..tk];
            for (score, key) in scores.iter_mut().zip(head_vectors(k, self.op.keys, at, tk)) {
                *score = self.op.scale * dot(query, key);
            }
            exponentials(scores, tk, &mut self.sums[..1]);
            let mixed = &mut self.mixed[..d];
            mixed.fill(0.0);
            for (&e, value) in scores.iter().zip(head_vectors(v, self.op.values, at, tk)) {
                for (m, &x) in mixed.iter_mut().zip(value) {
                    *m += e * x;
                }
            }
            let share = self.sums[0].recip();
            for (o, &m) in row[head * d..][..d].iter_mut().zip(mixed.iter()) {
                *o = m * share;
            }
        }
    }

    /// Head `head` of one batch item into its columns of `out`, both products packed.
    fn packed(&mut self, head: usize, q: &[f32], k: &[f32], v: &[f32], out: &mut [f32]) {
        let (at, tk) = self.head(head);
        let (d, width) = (self.op.head_dim, self.op.heads * self.op.head_dim);
        let queries = head_vectors(q, Layout::Rows, at, self.tq);
        for (query, row) in self.queries.chunks_exact_mut(d).zip(queries) {
            query.copy_from_slice(row);
        }
        // The keys as weights of Tk columns: block, then inner index (of D), then column.
        for (j, key) in head_vectors(k, self.op.keys, at, tk).enumerate() {
            let (block, lane) = (j / BLOCK, j % BLOCK);
            for (i, &x) in key.iter().enumerate() {
                self.keys[(block * d + i) * BLOCK + lane] = x;
            }
        }
        let keys = Packed {
            weights: &self.keys,
            scale: &self.key_scale,
            bias: &self.key_bias,
            k: d,
            n: tk,
        };
        multiply(&self.queries, &keys, &mut self.scores);
        exponentials(&mut self.scores, tk, &mut self.sums);
        // The values as weights of D columns: block, then inner index (of Tk), then column.
        for (j, value) in head_vectors(v, self.op.values, at, tk).enumerate() {
            for (block, run) in value.chunks(BLOCK).enumerate() {
                self.values[(block * tk + j) * BLOCK..][..run.len()].copy_from_slice(run);
            }
        }
        let values = Packed {
            weights: &self.values,
            scale: &self.value_scale,
            bias: &self.value_bias,
            k: tk,
            n: d,
        };
        multiply(&self.scores, &values, &mut self.mixed);
        for ((row, mixed), &sum) in out
            .chunks_exact_mut(width)
            .zip(self.mixed.chunks_exact(d))
            .zip(&self.sums)
        {
            let share = sum.recip();
            for (o, &m) in row[head * d..][..d].iter_mut().zip(mixed) {
                *o = m * share;
            }
        }
    }
}

/// The dot product of two vectors of the same length, in independent lanes that vectorise.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a_runs, a_rest) = a.as_chunks::<8>();
    let (b_runs, b_rest) = b.as_chunks::<8>();
    let mut lanes = [0f32; 8];
    for (x, y) in a_runs.iter().zip(b_runs) {
        for ((lane, &x), &y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + rest
}

/// Each row of `len` scores in place as `exp(score - the row's max)`, and each row's sum of
/// them in `sums`: a softmax but for the division, which the op does on fewer values later.
fn exponentials(scores: &mut [f32], len: usize, sums: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512(scores: &mut [f32], len: usize, sums: &mut [f32]) {
                exponentials_in::<16>(scores, len, sums)
            }
            // SAFETY: the processor has AVX-512F, checked just above.
            return unsafe { avx512(scores, len, sums) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2_fma(scores: &mut [f32], len: usize, sums: &mut [f32]) {
                exponentials_in::<8>(scores, len, sums)
            }
            // SAFETY: the processor has both extensions, checked just above.
            return unsafe { avx2_fma(scores, len, sums) };
        }
    }
    exponentials_in::<1>(scores, len, sums)
}

/// [`exponentials`] in runs of `L` independent lanes, which the compiler turns into vectors of
/// the instruction set it is compiled for.
#[inline(always)]
fn exponentials_in<const L: usize>(scores: &mut [f32], len: usize, sums: &mut [f32]) {
    for (row, sum) in scores.chunks_exact_mut(len).zip(sums) {
        let (runs, rest) = row.as_chunks_mut::<L>();
        let mut maxes = [f32::NEG_INFINITY; L];
        for run in runs.iter() {
            for (m, &x) in maxes.iter_mut().zip(run) {
                *m = m.max(x);
            }
        }
        let max = rest
            .iter()
            .chain(&maxes)
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut totals = [0f32; L];
        for run in runs.iter_mut() {
            for (t, x) in totals.iter_mut().zip(run) {
                *x = exp_below_zero(*x - max);
                *t += *x;
            }
        }
        let mut total: f32 = totals.iter().sum();
        for x in rest {
            *x = exp_below_zero(*x - max);
            total += *x;
        }
        *sum = total;
    }
}

/// `e^x` for `x <= 0`, to about one part in 10^7 (zero below -87): `2^n` times a polynomial
/// of the remainder (the Cephes library's coefficients), in operations that vectorise.
#[inline(always)]
fn exp_below_zero(x: f32) -> f32 {
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let p = 1.987_569_1e-4_f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 0.166_666_65);
    let p = p.mul_add(r, 0.5);
    let e = p.mul_add(r * r, r) + 1.0;
    // 2^n from the bits of n + 1.5 x 2^23, whose low bits hold n (-126 <= n <= 0): a float to
    // integer conversion would not vectorise.
    let low_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    e * f32::from_bits(low_bits.wrapping_add(127) << 23)
}

impl TypedOp for Attention {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == 3 && inputs[0].rank() == 3,
            "Attention wants [B, T, H x D] queries, then keys and values"
        );
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }
}

/// The op at `outlet` when it is an axis op, with its input.
fn axis_op(model: &TypedModel, outlet: OutletId) -> Option<(&AxisOp, OutletId)> {
    let node = model.node(outlet.node);
    Some((node.op_as::<AxisOp>()?, *node.inputs.first()?))
}

/// The `[B, T, H x D]` f32 rows whose heads `outlet` holds as `[B, H, T, D]` (the last axis split
/// in two, then axes 1 and 2 swapped), with `H` and `D`.
fn heads_of(model: &TypedModel, outlet: OutletId) -> Option<(OutletId, usize, usize)> {
    let (AxisOp::Move(1, 2), split) = axis_op(model, outlet)? else {
        return None;
    };
    let (AxisOp::Reshape(2, from, to), rows) = axis_op(model, split)? else {
        return None;
    };
    let ([width], [h, d]) = (&from[..], &to[..]) else {
        return None;
    };
    let (width, h, d) = (
        width.to_usize().ok()?,
        h.to_usize().ok()?,
        d.to_usize().ok()?,
    );
    let fact = model.outlet_fact(rows).ok()?;
    (width == h * d && fact.rank() == 3 && fact.datum_type == f32::datum_type())
        .then_some((rows, h, d))
}

/// Where the `[B, H, T, D]` heads at `outlet` come from: `[B, T, H x D]` rows split into heads,
/// or a tensor of the graph in that layout already.
fn vectors_of(
    model: &TypedModel,
    outlet: OutletId,
    h: usize,
    d: usize,
) -> Option<(OutletId, Layout)> {
    if let Some((rows, hr, dr)) = heads_of(model, outlet) {
        return ((hr, dr) == (h, d)).then_some((rows, Layout::Rows));
    }
    let fact = model.outlet_fact(outlet).ok()?;
    let heads = fact.rank() == 4
        && fact.datum_type == f32::datum_type()
        && fact.shape[1] == h.to_dim()
        && fact.shape[3] == d.to_dim();
    heads.then_some((outlet, Layout::Heads))
}

/// Whether `node` is a plain f32 product of `[.., M, K]` by `[.., K, N]`, batched over two axes.
fn is_batched_product(node: &TypedNode) -> bool {
    node.op_as::<EinSum>().is_some_and(|op| {
        op.q_params.is_none()
            && op.operating_dt == f32::datum_type()
            && op.axes.to_string() == "abmk,abkn->abmn"
            && node.inputs.len() == 2
    })
}

/// The queries' rows and their scale when `outlet` is their heads, maybe times a constant.
fn scaled_queries(model: &TypedModel, outlet: OutletId) -> Option<(OutletId, usize, usize, f32)> {
    if let Some((rows, h, d)) = heads_of(model, outlet) {
        return Some((rows, h, d, 1.0));
    }
    let node = model.node(outlet.node);
    let (heads, scale) = node
        .inputs
        .iter()
        .find_map(|&x| Some((x, scalar_factor(model, node, x)?)))?;
    let (rows, h, d) = heads_of(model, heads)?;
    Some((rows, h, d, scale))
}

/// The attention a softmax node is the middle of: its op, the queries', keys' and values' rows,
/// and the outlet its output takes the place of.
fn attention_at(
    model: &TypedModel,
    softmax: &TypedNode,
) -> Option<(Attention, [OutletId; 3], OutletId)> {
    let op = softmax.op_as::<Softmax>()?;
    if op.axes[..] != [3] || op.kind != SoftmaxKind::Softmax || op.quant_output_dt.is_some() {
        return None;
    }
    let scores = model.node(softmax.inputs[0].node);
    if !is_batched_product(scores) {
        return None;
    }
    let (q, h, d, scale) = scaled_queries(model, scores.inputs[0])?;
    let (AxisOp::Move(2, 3), k_heads) = axis_op(model, scores.inputs[1])? else {
        return None;
    };
    let (k, keys) = vectors_of(model, k_heads, h, d)?;
    let mix = model.single_succ(softmax.id).ok()??;
    if !is_batched_product(mix) || mix.inputs[0] != OutletId::new(softmax.id, 0) {
        return None;
    }
    let (v, values) = vectors_of(model, mix.inputs[1], h, d)?;
    let back = model.single_succ(mix.id).ok()??;
    let merged = model.single_succ(back.id).ok()??;
    let (AxisOp::Move(1, 2), _) = axis_op(model, OutletId::new(back.id, 0))? else {
        return None;
    };
    let (AxisOp::Reshape(2, from, to), _) = axis_op(model, OutletId::new(merged.id, 0))? else {
        return None;
    };
    let merges = from[..] == [h.to_dim(), d.to_dim()] && to[..] == [(h * d).to_dim()];
    merges.then_some((
        Attention {
            heads: h,
            head_dim: d,
            scale,
            keys,
            values,
        },
        [q, k, v],
        OutletId::new(merged.id, 0),
    ))
}

/// Puts [`Attention`] in place of each multi-head attention written as tract's split, product,
/// softmax, product and merge in a decluttered graph, where the processor has the product's
/// vector paths; returns how many it replaced.
pub(super) fn replace_attentions(model: &mut TypedModel) -> TractResult<usize> {
    if !super::lanes::x86_vectors() {
        return Ok(0);
    }
    let mut replaced = 0;
    for id in 0..model.nodes.len() {
        let Some((op, inputs, output)) = attention_at(model, &model.nodes[id]) else {
            continue;
        };
        let name = format!("{}.attention", model.nodes[id].name);
        super::rewrite::put_in_place(model, name, op, &inputs, output)?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::op_tests::{assert_close, tensor};
    use super::*;
    use tract_onnx::tract_core::ops::math::mul;

    /// tract's multi-head attention over `[1, tq, h x d]` queries and keys and values of `tk`
    /// positions, each `[1, tk, h x d]` rows split into heads or `[1, h, tk, d]` heads as the
    /// graph's input, written as the bundles' graphs write it, decluttered as the engine does.
    fn tract_attention(
        (tq, tk, h, d): (usize, usize, usize, usize),
        scale: f32,
        [keys, values]: [Layout; 2],
    ) -> TypedModel {
        let mut model = TypedModel::default();
        let heads = |model: &mut TypedModel, name: &str, t: usize, layout: Layout| {
            if layout == Layout::Heads {
                return model.add_source(name, f32::fact([1, h, t, d])).unwrap();
            }
            let rows = model.add_source(name, f32::fact([1, t, h * d])).unwrap();
            let split = AxisOp::Reshape(2, tvec![(h * d).to_dim()], tvec![h.to_dim(), d.to_dim()]);
            let split = model
                .wire_node(format!("{name}.split"), split, &[rows])
                .unwrap();
            model
                .wire_node(format!("{name}.heads"), AxisOp::Move(1, 2), &split)
                .unwrap()[0]
        };
        let q = heads(&mut model, "q", tq, Layout::Rows);
        let k = heads(&mut model, "k", tk, keys);
        let v = heads(&mut model, "v", tk, values);
        let scale = tensor1(&[scale]).broadcast_into_rank(4).unwrap();
        let scale = model.add_const("scale", scale).unwrap();
        let q = model.wire_node("q.scaled", mul(), &[q, scale]).unwrap()[0];
        let kt = model.wire_node("k.t", AxisOp::Move(2, 3), &[k]).unwrap()[0];
        let product = || EinSum::new("abmk,abkn->abmn".parse().unwrap(), f32::datum_type());
        let scores = model.wire_node("scores", product(), &[q, kt]).unwrap();
        let softmax = Softmax::new(tvec![3], None, SoftmaxKind::Softmax);
        let weights = model.wire_node("softmax", softmax, &scores).unwrap()[0];
        let mixed = model.wire_node("mixed", product(), &[weights, v]).unwrap();
        let back = model.wire_node("back", AxisOp::Move(1, 2), &mixed).unwrap();
        let merge = AxisOp::Reshape(2, tvec![h.to_dim(), d.to_dim()], tvec![(h * d).to_dim()]);
        let out = model.wire_node("merged", merge, &back).unwrap();
        model.select_output_outlets(&out).unwrap();
        super::super::declutter(&mut model).unwrap();
        model
    }

    fn run(model: TypedModel, inputs: &[Tensor]) -> Tensor {
        let inputs = inputs.iter().map(|t| t.clone().into()).collect();
        let outputs = model
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap()
            .run(inputs)
            .unwrap();
        outputs[0].clone().into_tensor()
    }

    #[test]
    fn replaces_tracts_attention_with_the_same_values() {
        use Layout::{Heads, Rows};
        // The encoder's sizes and layouts; the decoder's (one query, keys and values as the
        // graph's heads); sizes that leave partial tiles and blocks; keys unlike queries.
        for (sizes, layouts) in [
            ((256, 256, 4, 48), [Rows, Rows]),
            ((1, 256, 4, 64), [Heads, Heads]),
            ((13, 37, 3, 5), [Rows, Heads]),
            ((2, 1, 2, 33), [Heads, Rows]),
            ((3, 9, 2, 20), [Rows, Rows]),
        ] {
            let what = format!("{sizes:?} {layouts:?}");
            let (tq, tk, h, d) = sizes;
            let scale = 1.0 / (d as f32).sqrt();
            let shape = |layout| match layout {
                Rows => vec![1, tk, h * d],
                Heads => vec![1, h, tk, d],
            };
            let inputs = [
                tensor(&[1, tq, h * d], 1),
                tensor(&shape(layouts[0]), 2),
                tensor(&shape(layouts[1]), 3),
            ];
            let expected = run(tract_attention(sizes, scale, layouts), &inputs);
            let mut model = tract_attention(sizes, scale, layouts);
            assert_eq!(replace_attentions(&mut model).unwrap(), 1, "{what}");
            let found = run(model, &inputs);
            assert_close(&found, &expected, 1e-5, &what);
        }
    }

    #[test]
    fn takes_keys_only_in_the_queries_heads() {
        let model = tract_attention((4, 5, 3, 4), 0.5, [Layout::Heads, Layout::Rows]);
        let k = model.input_outlets().unwrap()[1];
        assert_eq!(vectors_of(&model, k, 3, 4), Some((k, Layout::Heads)));
        assert_eq!(vectors_of(&model, k, 4, 3), None);
        assert_eq!(vectors_of(&model, k, 3, 5), None);
    }

    #[test]
    fn exponentials_match_the_exponential_function() {
        let mut scores: Vec<f32> = (0..3 * 37).map(|i| i as f32 * 0.731 - 40.0).collect();
        let expected: Vec<Vec<f32>> = scores
            .chunks(37)
            .map(|row| {
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                row.iter().map(|&x| (x - max).exp()).collect()
            })
            .collect();
        let mut sums = [0f32; 3];
        exponentials(&mut scores, 37, &mut sums);
        for ((row, expected), sum) in scores.chunks(37).zip(&expected).zip(sums) {
            for (&found, &e) in row.iter().zip(expected) {
                assert!((found - e).abs() <= 2e-7 * e + 1e-38, "{found} != {e}");
            }
            let total: f32 = expected.iter().sum();
            assert!((sum - total).abs() <= 1e-6 * total, "{sum} != {total}");
        }
    }
}
