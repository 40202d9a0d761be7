"""The page script of the label editor: a click or a horizontal drag on a ground-truth lane becomes an edit command.

The editable timeline (:func:`mgn.explore.timeline.timeline_figure` with ``editable=True``) draws every (class row,
segment) of the Audio and Visual ground-truth lanes as a cell: traces of role ``"gt_cell"`` whose ``customdata`` is
``[class_name, modality, segment (0-based), value]``. The annotator adds ``layout.meta.edit_version`` (the clip
version the figure was drawn at) and ``layout.meta.edit_labels`` (``"corrected"``: editable).

The script (:func:`editor_script`, run once when the page loads; Gradio's ``launch(js=...)``) watches each editor
target's plot: a pointer pressed on a ground-truth cell starts a gesture on that cell's lane; released within a few
pixels it is a click (that one segment), else a drag to the segment under the pointer along the same lane (the row
is the one the gesture started on, whatever the pointer crosses). It writes the command, a compact JSON object
``{"clip", "class", "modality", "start", "end", "version", "nonce"}`` (what
:meth:`mgn.explore.annotator.EditCommand.parse` reads), into the target's hidden textbox and clicks its hidden
button, as the player script opens a clip (:mod:`mgn.explore.player`). Cells are found from the pointer's position
and the figure's axes (not from Plotly's hover or selection events, which are throttled and select across rows). A
new gesture on a figure whose previous command is not drawn yet (same version, under 4 s) is ignored, so that one
quick double gesture does not conflict with itself. ``window.mgnLastEdit`` holds the last command sent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

from mgn.explore import ui_ids

__all__ = [
    "CLIP_EDITOR",
    "CLICK_TOLERANCE_PX",
    "PARSE_EDITOR",
    "SAVE_BYTES_JS",
    "EditorTarget",
    "bytes_download",
    "combine_scripts",
    "editor_script",
]

EDIT_COMMAND = "mgn-edit-command"  # hidden textbox: the clip view's edit command
APPLY_EDIT = "mgn-apply-edit"  # hidden button the script clicks after writing EDIT_COMMAND
PARSE_TIMELINE = "mgn-parse-editor"  # the editable timeline of a parsed video's window
PARSE_EDIT_COMMAND = "mgn-parse-edit-command"
PARSE_APPLY_EDIT = "mgn-parse-apply-edit"
CLICK_TOLERANCE_PX = 4  # a gesture that moves less than this is a click
PENDING_MS = 4000  # a figure that was not redrawn after this long takes gestures again


@dataclass(frozen=True)
class EditorTarget:
    """One editable plot of the page and where its commands go (DOM ids: the plot's element or its Gradio wrapper,
    the hidden textbox's wrapper, the hidden button)."""

    plot: str
    box: str
    button: str


CLIP_EDITOR = EditorTarget(ui_ids.TIMELINE, ui_ids.EDIT_COMMAND, ui_ids.APPLY_EDIT)
PARSE_EDITOR = EditorTarget(ui_ids.PARSE_EDITOR_PLOT, ui_ids.PARSE_EDIT_COMMAND, ui_ids.PARSE_APPLY_EDIT)

_SCRIPT = """
() => {
  const targets = @TARGETS@;
  const tolerance = @TOLERANCE@, pendingMs = @PENDING@;
  const byId = (id) => document.getElementById(id);
  const plotOf = (id) => {
    const root = byId(id);
    if (!root) return null;
    return root.classList.contains('js-plotly-plot') ? root : root.querySelector('.js-plotly-plot');
  };
  const axisOf = (layout, name) => layout[name.charAt(0) + 'axis' + name.slice(1)];
  const editable = (gd) => {
    const meta = gd && gd.layout && gd.layout.meta;
    return !!meta && meta.editable === true && meta.edit_labels !== 'original' &&
      Number.isInteger(meta.edit_version) ? meta : null;
  };
  // the ground-truth cell under a point of the page: {cell: customdata, xa}, or null
  const cellAt = (gd, clientX, clientY) => {
    const full = gd._fullLayout;
    if (!full || !gd._fullData) return null;
    const box = gd.getBoundingClientRect();
    for (const trace of gd._fullData) {
      if (!trace.meta || trace.meta.role !== 'gt_cell' || !trace.customdata || trace.visible === false) continue;
      const xa = axisOf(full, trace.xaxis || 'x'), ya = axisOf(full, trace.yaxis || 'y');
      if (!xa || !ya) continue;
      const px = clientX - box.left - xa._offset, py = clientY - box.top - ya._offset;
      if (px < 0 || px > xa._length || py < 0 || py > ya._length) continue;
      const x = xa.p2l(px), y = ya.p2l(py);
      const half = (typeof trace.width === 'number' ? trace.width : 0.3) / 2;
      for (let i = 0; i < trace.customdata.length; i++) {
        const cell = trace.customdata[i];
        if (Math.abs(trace.y[i] - y) <= half && Math.floor(x) === cell[2]) return { cell, xa };
      }
    }
    return null;
  };
  const segmentAt = (gd, xa, clientX) => {
    const box = gd.getBoundingClientRect();
    const x = xa.p2l(clientX - box.left - xa._offset);
    return Math.max(0, Math.min(9, Math.floor(x)));
  };
  const send = (target, command) => {
    const box = document.querySelector('#' + target.box + ' textarea, #' + target.box + ' input');
    const button = byId(target.button);
    if (!box || !button) return false;
    box.value = JSON.stringify(command);
    box.dispatchEvent(new Event('input', { bubbles: true }));
    setTimeout(() => button.click(), 60);
    window.mgnLastEdit = command;
    return true;
  };
  let gesture = null, pending = null, count = 0;
  const start = (target, gd, event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.altKey) return;
    const meta = editable(gd);
    if (!meta) return;
    if (pending && pending.gd === gd && pending.version === meta.edit_version &&
        Date.now() - pending.time < pendingMs) return;  // the last edit is not drawn yet
    const hit = cellAt(gd, event.clientX, event.clientY);
    if (!hit) return;
    gesture = { target, gd, meta, cell: hit.cell, xa: hit.xa, x: event.clientX, y: event.clientY };
  };
  const finish = (event) => {
    if (!gesture) return;
    const g = gesture;
    gesture = null;
    const moved = Math.abs(event.clientX - g.x) >= tolerance;
    const end = moved ? segmentAt(g.gd, g.xa, event.clientX) : g.cell[2];
    const command = {
      clip: g.meta.clip, class: g.cell[0], modality: g.cell[1], start: g.cell[2], end: end,
      version: g.meta.edit_version, nonce: Date.now() + '-' + (count += 1),
    };
    if (send(g.target, command)) pending = { gd: g.gd, version: g.meta.edit_version, time: Date.now() };
  };
  window.addEventListener('pointerup', finish, true);
  window.addEventListener('pointercancel', () => { gesture = null; }, true);
  const bind = () => {
    for (const target of targets) {
      const gd = plotOf(target.plot);
      if (gd && gd.dataset.mgnEditor !== '1') {
        gd.dataset.mgnEditor = '1';
        gd.addEventListener('pointerdown', (event) => start(target, gd, event), true);
      }
    }
  };
  bind();
  setInterval(bind, 300);  // the plots are re-rendered when the view changes: bind new elements
}
"""


def editor_script(targets: Sequence[EditorTarget] = (CLIP_EDITOR, PARSE_EDITOR)) -> str:
    """The page script (a JavaScript function expression, for ``launch(js=...)`` or :func:`combine_scripts`)."""
    if not targets:
        raise ValueError("editor_script: give at least one EditorTarget")
    plain = [{"plot": t.plot, "box": t.box, "button": t.button} for t in targets]
    return (
        _SCRIPT.replace("@TARGETS@", json.dumps(plain))
        .replace("@TOLERANCE@", str(CLICK_TOLERANCE_PX))
        .replace("@PENDING@", str(PENDING_MS))
        .strip()
    )


def combine_scripts(*scripts: str) -> str:
    """One function expression that runs each of ``scripts`` (function expressions such as ``() => {...}``) in
    order: Gradio's ``launch(js=...)`` takes one."""
    calls = "\n".join(f"  ({script.strip()})();" for script in scripts)
    return f"() => {{\n{calls}\n}}"


# Saves ``{"name", "type", "base64"}`` (a gr.JSON value, :func:`bytes_download`) as a downloaded file; no outputs. The
# zips of edits and of a new dataset are made on demand and never written to the server's disk.
SAVE_BYTES_JS = """
(file) => {
  if (!file || typeof file.base64 !== 'string') return [];
  const raw = atob(file.base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  const url = URL.createObjectURL(new Blob([bytes], { type: file.type || 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = file.name || 'download.zip';
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return [];
}
"""


def bytes_download(name: str, data: bytes, media_type: str = "application/zip") -> dict[str, str]:
    """The value :data:`SAVE_BYTES_JS` saves as the file ``name``: ``{"name", "type", "base64"}``."""
    return {"name": name, "type": media_type, "base64": base64.b64encode(data).decode("ascii")}
