"""``numpy-bert explain``: one self-contained HTML page that shows what BERT attends to.

The page needs no network and no framework: the numbers are a JSON block inside it and a
small inline script draws them as SVG. It has three parts, after bertviz's views:

- **head view**: the tokens twice, queries on the left and keys on the right, a line
  from each query to each key whose opacity is the attention probability, one colour per
  head. A menu picks the layer; clicking a head's colour shows that head alone
  (shift-click adds or removes it); hovering a token keeps only its lines and writes
  the probabilities beside the keys;
- **model view**: every layer (rows) and head (columns) as a small T x T heat map;
  clicking one shows it in the head view;
- **attributions**: each token coloured by its integrated-gradients attribution (red
  for, blue against) of a prediction, with the score, the baseline's score and the
  completeness error.

Every number is on hover (an instant tooltip, and SVG/HTML titles).

What is explained: a text with a [MASK] is a fill-mask prediction (the most probable
token at the first [MASK]); for a sequence classifier, its predicted class; any other
text with a masked-LM checkpoint, the probability of its last word when that word is
masked (the page says which). A checkpoint with neither head (all-MiniLM-L6-v2 is an
encoder only) gets the attention views alone.

    >>> report = explain("The cat sat on the mat.")           # doctest: +SKIP
    >>> write_html(report, "cat.html")
"""

import html
import json
import warnings

import numpy as np

from numpy_bert import attribution
from numpy_bert import model as models
from numpy_bert.config import BertConfig
from numpy_bert.hub import resolve_model
from numpy_bert.tokenization import BertTokenizer
from numpy_bert.utils import atomic_write

DECIMALS = 4          # attention probabilities and attributions in the page: enough to read


def load_for_explain(model=None, dtype=np.float64):
    """(model, tokenizer, message) for a checkpoint name or directory: its classifier when
    config.json names BertForSequenceClassification, else its masked-LM model, else the
    encoder (BertModel) when it has no MLM head."""
    path, message = resolve_model(model)
    tokenizer = BertTokenizer.from_pretrained(path)
    config = BertConfig.from_pretrained(path)
    if "BertForSequenceClassification" in (config.architectures or []):
        return models.BertForSequenceClassification.from_pretrained(path, dtype=dtype), tokenizer, message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                        # checked just below
        mlm = models.BertForMaskedLM.from_pretrained(path, dtype=dtype)
    if any(name.startswith("cls.predictions") for name in mlm.loading_info["missing_keys"]):
        return models.BertModel.from_pretrained(path, dtype=dtype), tokenizer, message + " (encoder only: no MLM head)"
    return mlm, tokenizer, message


def _last_word(tokenizer, ids):
    """Index of the last token that is neither special nor punctuation, or None."""
    tokens = tokenizer.convert_ids_to_tokens(ids)
    for i in reversed(range(len(ids))):
        if ids[i] not in tokenizer.all_special_ids and any(c.isalnum() for c in tokens[i]):
            return i
    return None


def explain(text, model=None, tokenizer=None, steps=attribution.DEFAULT_STEPS, message=""):
    """The numbers the page shows, as a dict: {"text", "model", "tokens", "attentions"
    (L lists of NH lists of T x T probabilities), "attribution" (a dict, or None)}.

    ``model``: a numpy_bert model (then pass its ``tokenizer``), or a name or directory
    (None: the default checkpoint, see hub.resolve_model), loaded by load_for_explain.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("give a text to explain, e.g. numpy-bert explain \"The cat sat on the mat.\" --out cat.html")
    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        model, tokenizer, message = load_for_explain(model)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer too when model is a model object")
    ids = tokenizer.encode(text)
    if len(ids) > model.config.max_position_embeddings:
        raise ValueError(f"the text is {len(ids)} tokens long; this model takes at most "
                         f"{model.config.max_position_embeddings}: shorten it")
    out = model(np.array([ids]), output_attentions=True)
    attentions = [np.round(a[0].astype(np.float64), DECIMALS).tolist() for a in out["attentions"]]
    return {"text": text, "model": message or type(model).__name__,
            "tokens": tokenizer.convert_ids_to_tokens(ids), "attentions": attentions,
            "attribution": _attribution(model, tokenizer, text, ids, steps)}


def _attribution(model, tokenizer, text, ids, steps):
    if isinstance(model, models.BertForSequenceClassification):
        result = attribution.classification_attributions(model, tokenizer, text, steps=steps)
        what = f"probability of the class {result['target']}"
    elif isinstance(model, (models.BertForMaskedLM, models.BertForPreTraining)):
        if tokenizer.mask_token_id in ids:
            result = attribution.fill_mask_attributions(model, tokenizer, text, steps=steps)
            what = f"probability of {result['target']!r} at the first {tokenizer.mask_token}"
        else:
            i = _last_word(tokenizer, ids)
            if i is None:
                return None
            word = tokenizer.convert_ids_to_tokens([ids[i]])[0]
            start, end = tokenizer(text, return_offsets_mapping=True)["offset_mapping"][i]
            masked_text = text[:start] + tokenizer.mask_token + text[end:]
            result = attribution.fill_mask_attributions(model, tokenizer, masked_text, target=ids[i], steps=steps)
            what = f"probability of {word!r} at {tokenizer.mask_token} in its place"
    else:
        return None
    return {"what": what, "method": result["method"], "steps": result["steps"], "tokens": result["tokens"],
            "values": [float(f"{v:.6g}") for v in result["attributions"]], "score": result["score"],
            "baseline_score": result["baseline_score"], "baseline": result["baseline"],
            "completeness_error": result["completeness_error"]}


def render_html(report):
    """The page for a report from explain(): a string of HTML with the data inline."""
    payload = json.dumps(report, ensure_ascii=False).replace("<", "\\u003c")   # no "</script>" inside
    title = html.escape(f"numpy-bert explain: {report['text']}")
    return PAGE.replace("__TITLE__", title).replace("__DATA__", payload)


def write_html(report, path):
    """Write the page atomically (a crash leaves no half-written file)."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(render_html(report))


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #666; margin-bottom: 8px; }
.heads span { display: inline-block; width: 22px; height: 16px; margin-right: 4px; cursor: pointer;
  border: 2px solid transparent; text-align: center; font-size: 11px; color: #fff; }
.heads span.off { opacity: 0.25; } .heads span.on { border-color: #222; }
#model { display: grid; gap: 4px; justify-content: start; } #model svg { cursor: pointer; border: 1px solid #ddd; }
#model svg.sel { border-color: #222; }
.tok { display: inline-block; padding: 2px 4px; margin: 2px 1px; border-radius: 3px; }
#tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 2px 6px;
  border-radius: 3px; font-size: 12px; display: none; }
text { font-size: 13px; } .row { display: flex; gap: 40px; flex-wrap: wrap; align-items: flex-start; }
</style></head><body>
<h1 id="title"></h1><div class="sub" id="sub"></div>
<div class="row"><div>
<h2>Head view</h2>
<label>Layer <select id="layer"></select></label> <span class="heads" id="heads"></span>
<div><svg id="headview"></svg></div>
</div><div>
<h2>Model view <span class="sub">(rows: layers, columns: heads)</span></h2>
<div id="model"></div>
</div></div>
<h2>Attributions</h2><div id="attr"></div>
<div id="tip"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const L = data.attentions.length, NH = data.attentions[0].length, T = data.tokens.length;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
const color = h => COLORS[h % COLORS.length];
const state = { layer: 0, heads: new Set([...Array(NH).keys()]), focus: null };
const tip = document.getElementById("tip");
function showTip(ev, text) { tip.textContent = text; tip.style.display = "block";
  tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px"; }
function hideTip() { tip.style.display = "none"; }
function el(name, attrs, parent) { const e = document.createElementNS(SVGNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
function hover(node, text) { node.addEventListener("mousemove", ev => showTip(ev, text));
  node.addEventListener("mouseleave", hideTip);
  const t = document.createElementNS(SVGNS, "title"); t.textContent = text; node.appendChild(t); }

document.getElementById("title").textContent = data.text;
document.getElementById("sub").textContent = data.model + " \\u2014 " + L + " layers, " + NH + " heads, " + T + " tokens";

const layerSelect = document.getElementById("layer");
for (let l = 0; l < L; l++) { const o = document.createElement("option"); o.value = l; o.textContent = l;
  layerSelect.appendChild(o); }
layerSelect.addEventListener("change", () => { state.layer = +layerSelect.value; draw(); });
const headBox = document.getElementById("heads");
for (let h = 0; h < NH; h++) {
  const s = document.createElement("span"); s.textContent = h; s.dataset.head = h;
  s.style.background = color(h); s.title = "head " + h + " (click: this head alone, shift-click: add or remove)";
  s.addEventListener("click", ev => {
    if (ev.shiftKey) { if (state.heads.has(h)) state.heads.delete(h); else state.heads.add(h); }
    else state.heads = new Set([h]);
    draw(); });
  headBox.appendChild(s);
}

const ROW = 22, LEFT = 110, GAP = 170;
function drawHeadView() {
  const svg = document.getElementById("headview");
  svg.innerHTML = "";
  svg.setAttribute("width", 2 * LEFT + GAP + 60); svg.setAttribute("height", T * ROW + 10);
  const A = data.attentions[state.layer];
  const lines = el("g", { id: "lines" }, svg);
  for (const h of [...state.heads].sort((a, b) => a - b)) {
    for (let i = 0; i < T; i++) {
      if (state.focus !== null && state.focus !== i) continue;
      for (let j = 0; j < T; j++) {
        const w = A[h][i][j];
        const line = el("line", { x1: LEFT + 4, y1: i * ROW + 15, x2: LEFT + GAP - 4, y2: j * ROW + 15,
          stroke: color(h), "stroke-width": 2, "stroke-opacity": w,
          "data-layer": state.layer, "data-head": h, "data-from": i, "data-to": j, "data-weight": w }, lines);
        hover(line, data.tokens[i] + " \\u2192 " + data.tokens[j] + ": " + w.toFixed(4) +
              " (layer " + state.layer + ", head " + h + ")");
      }
    }
  }
  for (let i = 0; i < T; i++) {
    const left = el("text", { x: LEFT, y: i * ROW + 19, "text-anchor": "end", class: "query" }, svg);
    left.textContent = data.tokens[i];
    left.style.fontWeight = state.focus === i ? "bold" : "normal";
    left.addEventListener("mouseenter", () => { state.focus = i; drawHeadView(); });
    left.addEventListener("mouseleave", () => { state.focus = null; drawHeadView(); });
    const right = el("text", { x: LEFT + GAP, y: i * ROW + 19, class: "key" }, svg);
    right.textContent = data.tokens[i];
    if (state.focus !== null) {
      const values = [...state.heads].map(h => A[h][state.focus][i].toFixed(2)).join(" / ");
      const v = el("text", { x: 2 * LEFT + GAP, y: i * ROW + 19, fill: "#666", class: "value" }, svg);
      v.textContent = values;
    }
  }
  for (const s of headBox.children) {
    const on = state.heads.has(+s.dataset.head);
    s.className = on ? "on" : "off";
  }
}

const CELL = Math.max(3, Math.min(9, Math.floor(120 / T)));
function drawModelView() {
  const box = document.getElementById("model");
  box.innerHTML = ""; box.style.gridTemplateColumns = "repeat(" + NH + ", auto)";
  for (let l = 0; l < L; l++) for (let h = 0; h < NH; h++) {
    const svg = el("svg", { width: T * CELL, height: T * CELL, "data-layer": l, "data-head": h }, box);
    if (l === state.layer && state.heads.size === 1 && state.heads.has(h)) svg.classList.add("sel");
    const A = data.attentions[l][h];
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
      const r = el("rect", { x: j * CELL, y: i * CELL, width: CELL, height: CELL, fill: color(h),
        "fill-opacity": A[i][j] }, svg);
      hover(r, "layer " + l + ", head " + h + ": " + data.tokens[i] + " \\u2192 " + data.tokens[j] + " " + A[i][j].toFixed(4));
    }
    svg.addEventListener("click", () => { state.layer = l; layerSelect.value = l; state.heads = new Set([h]); draw(); });
  }
}

function drawAttributions() {
  const box = document.getElementById("attr");
  const a = data.attribution;
  if (!a) { box.textContent = "No attributions: this checkpoint has no masked-LM or classification head."; return; }
  const max = Math.max(1e-12, ...a.values.map(Math.abs));
  const p = document.createElement("div");
  p.className = "sub";
  const sum = a.values.reduce((s, v) => s + v, 0);
  p.textContent = "Integrated gradients (" + a.steps + " Gauss-Legendre steps, baseline: " + a.baseline +
    ") of the " + a.what + ": score " + a.score.toPrecision(4) + ", baseline " + a.baseline_score.toPrecision(4) +
    ", attributions sum to " + sum.toPrecision(4) + " (completeness error " + (100 * a.completeness_error).toPrecision(2) + "%)";
  box.appendChild(p);
  a.tokens.forEach((tok, t) => {
    const v = a.values[t], s = document.createElement("span");
    s.className = "tok"; s.textContent = tok; s.dataset.value = v;
    const alpha = Math.abs(v) / max;
    s.style.background = v >= 0 ? "rgba(214,39,40," + alpha + ")" : "rgba(31,119,180," + alpha + ")";
    s.title = tok + ": " + v.toFixed(6);
    s.addEventListener("mousemove", ev => showTip(ev, tok + ": " + v.toFixed(6)));
    s.addEventListener("mouseleave", hideTip);
    box.appendChild(s);
  });
}

function draw() { drawHeadView(); drawModelView(); }
draw(); drawAttributions();
</script></body></html>
"""
