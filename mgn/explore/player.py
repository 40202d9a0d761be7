"""The clip player: the <video> element's HTML, and the browser script that syncs it with the timeline.

The page script (``PLAYER_SYNC_JS``, passed to Gradio's ``launch(js=...)``) keeps three things in sync, without any
server round trip:

* a vertical cursor over the timeline follows the video's current time (``timeupdate`` + animation frames while
  playing); it is an overlay ``div.mgn-cursor`` whose ``data-time`` holds the time it shows;
* a click on the timeline seeks the video to the clicked second (Plotly's x axis maps pixels to seconds);
* a click on a point of the class-feature t-SNE opens that point's clip (its ``customdata[0]``) in the clip view.

``SAVE_TEXT_JS`` (an event's ``js``) saves a text the server sent, ``{"name", "text"}``, as a download: the timeline
page is made on demand and never written to the server's disk.
"""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import quote

__all__ = ["PLAYER_SYNC_JS", "SAVE_TEXT_JS", "VIDEO_ELEMENT_ID", "VIDEO_ROUTE", "video_html", "video_url"]

VIDEO_ELEMENT_ID = "mgn-video"
TIMELINE_ID = "mgn-timeline"
SELECTED_CLIP_ID = "mgn-selected-clip"
OPEN_CLIP_ID = "mgn-open-clip"  # a hidden button the script clicks after writing the clip into SELECTED_CLIP_ID
FEATURES_PLOT_ID = "mgn-features"
# The app serves the split's videos at VIDEO_ROUTE/<ID>.mp4, by video ID (no server path in the page), and nothing
# else of the video folder. Relative to the page, so that the app also works below a path prefix behind a proxy.
VIDEO_ROUTE = "mgn/video"


def video_url(video_id: str) -> str:
    """Where the page fetches a clip's video: ``mgn/video/<ID>.mp4`` (relative to the page)."""
    return f"{VIDEO_ROUTE}/{quote(video_id, safe='')}.mp4"


def video_html(clip: str, source: str | None, expected: Path | None) -> str:
    """The player for ``clip``: a <video> playing ``source`` (a URL, see :func:`video_url`), or when there is none a
    placeholder saying why (no video folder given: ``expected`` is None; else the file ``expected`` is missing)."""
    if source is not None:
        return (
            f'<video id="{VIDEO_ELEMENT_ID}" data-clip="{html.escape(clip)}" src="{html.escape(source)}" controls '
            'muted preload="auto" playsinline style="width:100%;max-height:360px;background:#000"></video>'
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

# Saves ``{"name": file name, "text": content}`` (a gr.JSON value) as a downloaded file; returns no outputs.
SAVE_TEXT_JS = """
(file) => {
  if (!file || typeof file.text !== 'string') return [];
  const url = URL.createObjectURL(new Blob([file.text], { type: 'text/html;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = file.name || 'download.html';
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return [];
}
"""
