"""The clip player and the page's script and stylesheet: the <video> element's HTML, and what runs in the browser.

The page script (``PLAYER_SYNC_JS``, passed to Gradio's ``launch(js=...)``) does, without any server round trip:

* a vertical cursor over the timeline follows the video's current time (``timeupdate`` + animation frames while
  playing); it is an overlay ``div.mgn-cursor`` whose ``data-time`` holds the time it shows;
* a click on the timeline seeks the video to the clicked second (Plotly's x axis maps pixels to seconds);
* on a wide screen the timeline is fitted into the window's height (all of its panels visible beside the video);
* the open clip's row of the clip list is highlighted (``mgn-open-row``) and kept in the list's view;
* keys (not while typing in a field): up / down open the previous / next clip of the list (it clicks the hidden
  previous / next buttons: the server knows the list's order), space plays / pauses the video;
* the address bar follows the page (``history.replaceState``): ``?clip=<filename>`` for the open clip and
  ``?tab=<id>`` for a tab other than Clips, so the address can be shared (the app opens them on load);
* a click on a point of the class-feature t-SNE opens that point's clip (its ``customdata[0]``) in the clip view;
* on a phone, a clip opened from the list scrolls the player into view.

``PAGE_CSS`` lays the Clips tab out: list | video and clip details | timeline side by side on a wide screen (the
timeline column sticky), stacked on a narrow one. ``SAVE_TEXT_JS`` (an event's ``js``) saves a text the server sent,
``{"name", "text"}``, as a download: the timeline page is made on demand and never written to the server's disk.
Element ids come from :mod:`mgn.explore.ui_ids`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from mgn.explore import ui_ids

__all__ = [
    "PAGE_CSS",
    "SAVE_TEXT_JS",
    "VIDEO_ROUTE",
    "page_script",
    "video_html",
    "video_url",
]

# The app serves the split's videos at VIDEO_ROUTE/<ID>.mp4, by video ID (no server path in the page), and nothing
# else of the video folder. Relative to the page, so that the app also works below a path prefix behind a proxy.
VIDEO_ROUTE = "mgn/video"
WIDE_SCREEN_PX = 1024  # from this window width on, the Clips tab's columns sit side by side
_MIN_FITTED_TIMELINE_PX = 420  # a timeline is never squeezed below this height to fit the window


def video_url(video_id: str) -> str:
    """Where the page fetches a clip's video: ``mgn/video/<ID>.mp4`` (relative to the page)."""
    return f"{VIDEO_ROUTE}/{quote(video_id, safe='')}.mp4"


def video_html(clip: str, source: str | None, expected: Path | None) -> str:
    """The player for ``clip``: a <video> playing ``source`` (a URL, see :func:`video_url`) with its sound on, or when
    there is none a placeholder saying why (no video folder given: ``expected`` is None; else the file ``expected``
    is missing)."""
    if source is not None:
        return (
            f'<video id="{ui_ids.VIDEO}" data-clip="{html.escape(clip)}" src="{html.escape(source)}" controls '
            'preload="auto" playsinline style="width:100%;max-height:360px;background:#000"></video>'
        )
    reason = (
        "no video folder was given (start the app with --videos DIR)"
        if expected is None
        else f"video file not found: {expected}"
    )
    return (
        f'<div id="{ui_ids.VIDEO}-missing" class="mgn-no-video" style="padding:2em;text-align:center;'
        f'background:#f3f4f6;border-radius:8px">No video for <b>{html.escape(clip)}</b>: {html.escape(reason)}.'
        "<br>Everything else works without it.</div>"
    )


PAGE_CSS = f"""
.gradio-container {{max-width: 100% !important}}
.{ui_ids.HIDDEN_CLASS} {{display: none !important}}
.{ui_ids.CURSOR_CLASS} {{box-shadow: 0 0 4px #e11d48}}
#{ui_ids.CLIP_LIST} .{ui_ids.OPEN_ROW_CLASS} > * {{background: #fde68a !important; font-weight: 600}}
#{ui_ids.CLIP_LIST} [role="gridcell"], #{ui_ids.CLIP_LIST} [role="columnheader"] {{font-size: 12px;
  padding: 4px 4px !important}}
#{ui_ids.CLIP_LIST} [role="gridcell"], #{ui_ids.CLIP_LIST} [role="gridcell"] * {{word-break: normal !important;
  overflow-wrap: break-word !important}}
#{ui_ids.OFFICIAL_THRESHOLD} {{align-self: center; max-height: 2.6em}}
#{ui_ids.CLIP_LIST} [role="columnheader"], #{ui_ids.CLIP_LIST} [role="columnheader"] * {{font-size: 11px;
  word-break: normal !important; overflow-wrap: normal !important; hyphens: none}}
#{ui_ids.CLIP_LIST} [data-testid^="cell-"][data-testid$="-0"],
#{ui_ids.CLIP_LIST} [data-testid^="cell-"][data-testid$="-0"] * {{white-space: nowrap !important;
  word-break: normal !important; overflow: hidden; text-overflow: ellipsis}}
#{ui_ids.CLIP_MESSAGE} p {{color: #b91c1c; margin: 0}}
#{ui_ids.EMPTY_LIST_NOTE} p {{margin: 0.25em 0}}
#{ui_ids.THRESHOLD} .slider_input_container {{position: relative; padding-bottom: 14px}}
#{ui_ids.THRESHOLD} .slider_input_container::after {{content: "▲ official"; position: absolute; left: 50%;
  bottom: 0; transform: translateX(-0.42em); font-size: 10px; line-height: 12px; color: #6b7280;
  pointer-events: none}}
#{ui_ids.CLIPS_ROW}.{ui_ids.LIST_HIDDEN_CLASS} #{ui_ids.LIST_COLUMN} {{display: none !important}}
@media (min-width: {WIDE_SCREEN_PX}px) {{
  #{ui_ids.CLIPS_ROW} {{flex-wrap: nowrap !important; align-items: flex-start; gap: 12px}}
  #{ui_ids.LIST_COLUMN} {{flex: 0 0 420px !important; min-width: 320px !important; max-width: 440px}}
  #{ui_ids.VIDEO_COLUMN} {{flex: 0 0 360px !important; min-width: 300px !important; max-width: 420px}}
  #{ui_ids.TIMELINE_COLUMN} {{flex: 1 1 0 !important; min-width: 380px !important; position: sticky; top: 0;
    align-self: flex-start}}
  #{ui_ids.CLIPS_ROW}.{ui_ids.COMPARE_CLASS} #{ui_ids.LIST_COLUMN} {{flex-basis: 480px !important;
    max-width: 500px}}
  #{ui_ids.CLIPS_ROW}.{ui_ids.COMPARE_CLASS} #{ui_ids.VIDEO_COLUMN} {{flex-basis: 340px !important}}
  #{ui_ids.CLIPS_ROW}.{ui_ids.LIST_HIDDEN_CLASS} #{ui_ids.VIDEO_COLUMN} {{flex-basis: 480px !important;
    max-width: 520px}}
}}
@media (max-width: {WIDE_SCREEN_PX - 1}px) {{
  .gradio-container .main.app {{padding-left: 6px !important; padding-right: 6px !important}}
  .gradio-container .main.app.fillable.fill_width {{padding-left: 6px !important; padding-right: 6px !important}}
  #{ui_ids.HEADER} {{flex-direction: column !important}}
  #{ui_ids.HEADER} > * {{width: 100% !important}}
  #{ui_ids.CLIPS_ROW} {{flex-direction: column !important; flex-wrap: nowrap !important}}
  #{ui_ids.CLIPS_ROW} > * {{width: 100% !important; min-width: 0 !important; max-width: none !important;
    flex: 0 0 auto !important}}
  /* list, then the player, then the timeline, then the clip's tables */
  #{ui_ids.VIDEO_COLUMN} {{display: contents !important}}
  #{ui_ids.LIST_COLUMN} {{order: 0}}
  #{ui_ids.VIDEO_COLUMN} > * {{order: 1; width: 100% !important}}
  #{ui_ids.TIMELINE_COLUMN} {{order: 2}}
  #{ui_ids.VIDEO_COLUMN} > .{ui_ids.DETAILS_CLASS} {{order: 3}}
}}
"""

_PAGE_SCRIPT_TEMPLATE = """
() => {
  const ids = @IDS@;
  const tabs = @TABS@;  // tab label -> tab id (the ?tab= value)
  const wideScreen = () => window.matchMedia('(min-width: @WIDE@px)').matches;
  const byId = (id) => document.getElementById(id);
  const plotDiv = (id) => { const root = byId(id); return root ? root.querySelector('.js-plotly-plot') : null; };
  const video = () => byId(ids.VIDEO);
  const shownClip = () => {
    const gd = plotDiv(ids.TIMELINE);
    return gd && gd.layout && gd.layout.meta ? gd.layout.meta.clip : null;
  };
  const visible = (element) => !!element && element.offsetParent !== null;

  // --- the cursor over the timeline, and seeking by a click on it
  const cursorOf = (gd) => {
    const host = gd.parentElement;
    let cursor = host.querySelector(':scope > .' + ids.CURSOR_CLASS);
    if (!cursor) {
      cursor = document.createElement('div');
      cursor.className = ids.CURSOR_CLASS;
      cursor.style.cssText = 'position:absolute;width:2px;background:#e11d48;pointer-events:none;z-index:10;';
      host.style.position = 'relative';
      host.appendChild(cursor);
    }
    return cursor;
  };
  const placeCursor = () => {
    const gd = plotDiv(ids.TIMELINE);
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

  // --- the timeline fitted into the window's height on a wide screen (all panels beside the video)
  const naturalHeights = new WeakMap();  // a figure's layout object -> its height as the server drew it
  const fitTimeline = (gd) => {
    if (!window.Plotly || !gd.layout || !gd._fullLayout) return;
    if (!naturalHeights.has(gd.layout)) naturalHeights.set(gd.layout, gd._fullLayout.height);  // a new figure
    const natural = naturalHeights.get(gd.layout);
    let target = natural;
    if (wideScreen()) {
      const top = gd.getBoundingClientRect().top + window.scrollY;  // where it sits with the page at the top
      target = Math.min(natural, Math.max(@MIN_HEIGHT@, Math.floor(window.innerHeight - top - 12)));
    }
    if (Math.abs(gd._fullLayout.height - target) > 1) window.Plotly.relayout(gd, { height: target });
    gd.dataset.mgnNatural = String(natural);
  };

  // --- opening a clip (t-SNE points), the list's open row, the address bar
  const click = (id) => { const button = byId(id); if (button) button.click(); };
  const openClip = (clip) => {
    const box = document.querySelector('#' + ids.SELECTED_CLIP + ' textarea, #' + ids.SELECTED_CLIP + ' input');
    if (!box) return;
    box.value = clip;
    box.dispatchEvent(new Event('input', { bubbles: true }));
    setTimeout(() => click(ids.OPEN_CLIP), 60);
    const tab = Array.from(document.querySelectorAll('button[role="tab"]'))
      .find((b) => tabs[b.textContent.trim()] === 'clips');
    if (tab) tab.click();
  };
  let scrollListToOpenRow = false, scrollToPlayer = false;
  const highlightOpenRow = () => {
    const list = byId(ids.CLIP_LIST), clip = shownClip();
    if (!list) return;
    let open = null;
    list.querySelectorAll('[role="row"]').forEach((row) => {
      const cell = row.querySelector('[role="gridcell"]');
      const isOpen = !!cell && cell.textContent.trim() === clip;
      row.classList.toggle(ids.OPEN_ROW_CLASS, isOpen);
      if (isOpen) open = row;
    });
    if (open && scrollListToOpenRow) {
      const viewport = open.closest('.virtual-table-viewport') || open.parentElement;
      const rowBox = open.getBoundingClientRect(), viewBox = viewport.getBoundingClientRect();
      if (rowBox.top < viewBox.top + rowBox.height) viewport.scrollTop -= viewBox.top + rowBox.height - rowBox.top;
      else if (rowBox.bottom > viewBox.bottom) viewport.scrollTop += rowBox.bottom - viewBox.bottom;
      scrollListToOpenRow = false;
    }
  };
  const selectedTab = () => {
    const button = Array.from(document.querySelectorAll('button[role="tab"]'))
      .find((b) => b.getAttribute('aria-selected') === 'true');
    return button ? tabs[button.textContent.trim()] : null;
  };
  let addressClip = null, addressTab = null, lastShown = null;
  const updateAddress = () => {
    const clip = shownClip(), tab = selectedTab();
    if (!clip || !tab || (clip === addressClip && tab === addressTab)) return;
    addressClip = clip; addressTab = tab;
    const url = new URL(window.location.href);
    url.searchParams.set('clip', clip);
    if (tab === 'clips') url.searchParams.delete('tab'); else url.searchParams.set('tab', tab);
    window.history.replaceState(window.history.state, '', url.toString());
  };

  // --- keys: up / down = previous / next clip of the list, space = play / pause
  const typing = (target) => !!target && (target.isContentEditable ||
    ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName) || target.closest('[role="listbox"]') !== null);
  window.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    if (!visible(byId(ids.VIDEO_COLUMN))) return;  // another tab is open
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      event.stopPropagation();
      scrollListToOpenRow = true;
      click(event.key === 'ArrowDown' ? ids.NEXT_CLIP : ids.PREVIOUS_CLIP);
    } else if (event.key === ' ' || event.code === 'Space') {
      const v = video();
      if (!v || event.target === v) return;  // the player's own controls handle their keys
      event.preventDefault();
      event.stopPropagation();
      if (v.paused) v.play(); else v.pause();
    }
  }, true);
  document.addEventListener('click', (event) => {
    if (event.target.closest && event.target.closest('#' + ids.CLIP_LIST + ' [role="gridcell"]')) {
      scrollToPlayer = !wideScreen();
    }
  }, true);

  const bind = () => {
    const gd = plotDiv(ids.TIMELINE);
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
    if (gd && visible(gd)) fitTimeline(gd);
    const v = video();
    if (v && v.dataset.mgnBound !== '1') {
      v.dataset.mgnBound = '1';
      ['timeupdate', 'seeked', 'loadedmetadata'].forEach((name) => v.addEventListener(name, placeCursor));
      v.addEventListener('play', () => {
        const follow = () => { placeCursor(); if (!v.paused && !v.ended) requestAnimationFrame(follow); };
        requestAnimationFrame(follow);
      });
    }
    const features = plotDiv(ids.FEATURES_PLOT);
    if (features && features.on && features.dataset.mgnBound !== '1') {
      features.dataset.mgnBound = '1';
      features.on('plotly_click', (data) => {
        const point = data && data.points && data.points[0];
        if (point && point.customdata && point.customdata[0]) openClip(String(point.customdata[0]));
      });
    }
    const clip = shownClip();
    if (clip !== lastShown) {
      lastShown = clip;
      if (scrollToPlayer && clip) {
        const box = byId(ids.VIDEO_BOX);
        if (box) box.scrollIntoView({ block: 'start', behavior: 'smooth' });
        scrollToPlayer = false;
      }
    }
    highlightOpenRow();
    updateAddress();
    if (gd) placeCursor();
  };
  window.mgnOpenClip = openClip;
  setInterval(bind, 250);  // plots and the player are re-rendered when the clip changes: re-bind new elements
}
"""

_SCRIPT_IDS = (
    "VIDEO",
    "VIDEO_BOX",
    "VIDEO_COLUMN",
    "TIMELINE",
    "SELECTED_CLIP",
    "OPEN_CLIP",
    "PREVIOUS_CLIP",
    "NEXT_CLIP",
    "CLIP_LIST",
    "FEATURES_PLOT",
    "CURSOR_CLASS",
    "OPEN_ROW_CLASS",
)


def page_script(tabs: Mapping[str, str]) -> str:
    """The page script (``launch(js=...)``), given the page's tabs as ``{label: id}`` (the ``?tab=`` values)."""
    return (
        _PAGE_SCRIPT_TEMPLATE.replace("@IDS@", json.dumps({name: getattr(ui_ids, name) for name in _SCRIPT_IDS}))
        .replace("@TABS@", json.dumps(dict(tabs)))
        .replace("@WIDE@", str(WIDE_SCREEN_PX))
        .replace("@MIN_HEIGHT@", str(_MIN_FITTED_TIMELINE_PX))
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
