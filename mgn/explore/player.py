"""The clip player: the <video> element's HTML, and the browser script that syncs it with the timeline.

The page script (``PLAYER_SYNC_JS``, passed to Gradio's ``launch(js=...)``) keeps three things in sync, without any
server round trip:

* a vertical cursor over the timeline follows the video's current time (``timeupdate`` + animation frames while
  playing); it is an overlay ``div.mgn-cursor`` whose ``data-time`` holds the time it shows;
* a click on the timeline seeks the video to the clicked second (Plotly's x axis maps pixels to seconds);
* a click on a point of the class-feature t-SNE opens that point's clip (its ``customdata[0]``) in the clip view.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

__all__ = ["PLAYER_SYNC_JS", "VIDEO_ELEMENT_ID", "video_html"]

VIDEO_ELEMENT_ID = "mgn-video"
TIMELINE_ID = "mgn-timeline"
SELECTED_CLIP_ID = "mgn-selected-clip"
OPEN_CLIP_ID = "mgn-open-clip"  # a hidden button the script clicks after writing the clip into SELECTED_CLIP_ID
FEATURES_PLOT_ID = "mgn-features"


def video_html(clip: str, path: Path | None, expected: Path | None) -> str:
    """The player for ``clip``: a <video> served by Gradio's file route, or a placeholder saying why there is none."""
    if path is not None:
        source = "/gradio_api/file=" + quote(str(path.resolve()))
        return (
            f'<video id="{VIDEO_ELEMENT_ID}" data-clip="{html.escape(clip)}" src="{source}" controls muted '
            f'preload="auto" playsinline style="width:100%;max-height:360px;background:#000"></video>'
        )
    reason = (
        "no video folder was given (start the app with --videos DIR)"
        if expected is None
        else f"video file not found: {expected}"
    )
    return (
        f'<div id="{VIDEO_ELEMENT_ID}-missing" class="mgn-no-video" style="padding:2em;text-align:center;'
        f'background:#f3f4f6;border-radius:8px">No video for <b>{html.escape(clip)}</b>: {html.escape(reason)}.'
        "<br>Everything else works without it.</div>"
    )


_PLAYER_SYNC_TEMPLATE = """
() => {
  const plotDiv = (id) => {
    const root = document.getElementById(id);
    return root ? root.querySelector('.js-plotly-plot') : null;
  };
  const video = () => document.getElementById('@VIDEO@');
  const cursorOf = (gd) => {
    const host = gd.parentElement;
    let cursor = host.querySelector(':scope > .mgn-cursor');
    if (!cursor) {
      cursor = document.createElement('div');
      cursor.className = 'mgn-cursor';
      cursor.style.cssText = 'position:absolute;width:2px;background:#e11d48;pointer-events:none;z-index:10;';
      host.style.position = 'relative';
      host.appendChild(cursor);
    }
    return cursor;
  };
  const placeCursor = () => {
    const gd = plotDiv('@TIMELINE@');
    if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) return;
    const v = video();
    const time = v && v.dataset.clip === (gd._fullLayout.meta || {}).clip ? v.currentTime : 0;
    const layout = gd._fullLayout, axis = layout.xaxis;
    const cursor = cursorOf(gd);
    const gdBox = gd.getBoundingClientRect(), hostBox = gd.parentElement.getBoundingClientRect();
    cursor.style.left = (gdBox.left - hostBox.left + axis._offset + axis.l2p(time) - 1) + 'px';
    cursor.style.top = (gdBox.top - hostBox.top + layout.margin.t) + 'px';
    cursor.style.height = Math.max(0, layout.height - layout.margin.t - layout.margin.b) + 'px';
    cursor.dataset.time = time.toFixed(3);
  };
  const openClip = (clip) => {
    const box = document.querySelector('#@SELECTED@ textarea, #@SELECTED@ input');
    if (!box) return;
    box.value = clip;
    box.dispatchEvent(new Event('input', { bubbles: true }));
    setTimeout(() => { const open = document.getElementById('@OPEN@'); if (open) open.click(); }, 60);
    const tab = Array.from(document.querySelectorAll('button[role="tab"]'))
      .find((b) => b.textContent.trim().startsWith('Clips'));
    if (tab) tab.click();
  };
  const bind = () => {
    const gd = plotDiv('@TIMELINE@');
    if (gd && gd._fullLayout && gd.dataset.mgnBound !== '1') {
      gd.dataset.mgnBound = '1';
      gd.addEventListener('click', (event) => {
        const v = video(), axis = gd._fullLayout && gd._fullLayout.xaxis;
        if (!v || !axis) return;
        const box = gd.getBoundingClientRect();
        const time = axis.p2l(event.clientX - box.left - axis._offset);
        if (time < 0 || time > 10) return;
        v.currentTime = Math.min(time, (v.duration || 10) - 0.001);
        placeCursor();
      });
    }
    const v = video();
    if (v && v.dataset.mgnBound !== '1') {
      v.dataset.mgnBound = '1';
      ['timeupdate', 'seeked', 'loadedmetadata'].forEach((name) => v.addEventListener(name, placeCursor));
      v.addEventListener('play', () => {
        const follow = () => { placeCursor(); if (!v.paused && !v.ended) requestAnimationFrame(follow); };
        requestAnimationFrame(follow);
      });
    }
    const features = plotDiv('@FEATURES@');
    if (features && features.on && features.dataset.mgnBound !== '1') {
      features.dataset.mgnBound = '1';
      features.on('plotly_click', (data) => {
        const point = data && data.points && data.points[0];
        if (point && point.customdata && point.customdata[0]) openClip(String(point.customdata[0]));
      });
    }
    if (gd) placeCursor();
  };
  window.mgnOpenClip = openClip;
  setInterval(bind, 250);  // plots and the player are re-rendered when the clip changes: re-bind new elements
}
"""
PLAYER_SYNC_JS = (
    _PLAYER_SYNC_TEMPLATE.replace("@VIDEO@", VIDEO_ELEMENT_ID)
    .replace("@TIMELINE@", TIMELINE_ID)
    .replace("@SELECTED@", SELECTED_CLIP_ID)
    .replace("@FEATURES@", FEATURES_PLOT_ID)
    .replace("@OPEN@", OPEN_CLIP_ID)
)
