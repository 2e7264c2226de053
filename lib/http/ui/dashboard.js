// vr-serve's dashboard: reads /ui/api/* and draws the four panels. Every value from the server
// goes into the page as text (textContent), never as HTML, so ids cannot inject markup.
'use strict';
(function () {
  const REFRESH_MS = 5000;
  const SVG = 'http://www.w3.org/2000/svg';

  // Script errors are shown on the page (and counted on <body> for the tests).
  let scriptErrors = 0;
  function reportScriptError(message) {
    scriptErrors += 1;
    document.body.dataset.scriptErrors = String(scriptErrors);
    const box = document.getElementById('script-errors');
    box.hidden = false;
    box.textContent = 'Dashboard error: ' + message;
  }
  window.addEventListener('error', (event) => reportScriptError(event.message));
  window.addEventListener('unhandledrejection', (event) => reportScriptError(String(event.reason)));

  // el('td', {class: 'number'}, 'text', childNode...): strings become text nodes.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function number(value, digits) {
    if (value === null || value === undefined) return '–';
    if (typeof value !== 'number') return String(value);
    if (Number.isInteger(value) && digits === undefined) return value.toLocaleString('en-US');
    return value.toFixed(digits === undefined ? 4 : digits);
  }
  function time(unixSeconds) {
    return new Date(unixSeconds * 1000).toISOString().replace('.000Z', 'Z');
  }

  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }
  async function getJson(path) {
    const response = await fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store'});
    let body = null;
    try { body = await response.json(); } catch (ignored) { body = null; }
    if (!response.ok) {
      // {"detail": "..."}, or FastAPI's list of validation problems.
      let detail = 'HTTP ' + response.status;
      if (body && typeof body.detail === 'string') detail = body.detail;
      else if (body && Array.isArray(body.detail) && body.detail.length) detail = String(body.detail[0].msg);
      throw new ApiError(response.status, detail);
    }
    return body;
  }
  function message(text) { return el('p', {class: 'message', role: 'status'}, text); }

  // A video id as a button that opens it in "Explore a video", with its title when known.
  function videoCell(videoId, title) {
    const button = el('button', {type: 'button', class: 'id', title: 'Explore this video'}, videoId);
    button.addEventListener('click', () => { showVideo(videoId); });
    return el('td', {}, button, title ? el('div', {class: 'title'}, title) : null);
  }

  // --- Model card ---------------------------------------------------------------------------
  function renderModel(card) {
    const panel = document.getElementById('model-card');
    const rows = [
      ['Version', el('code', {}, card.version)],
      ['Kind', card.kind],
      ['Trained', card.trained_at || 'unknown'],
      ['Loaded', time(card.loaded_at)],
      ['Users', number(card.data.users)],
      ['Videos', number(card.data.videos)],
      ['Ratings', number(card.data.ratings)],
      ['vr version', card.vr_version || 'unknown'],
    ];
    for (const [name, value] of Object.entries(card.hyperparameters)) rows.push([name, number(value)]);
    if (card.final_loss !== null) rows.push(['Final training loss', number(card.final_loss, 6)]);
    rows.push(['Precomputed table', card.precomputed_depth > 0 ? 'top ' + card.precomputed_depth + ' per user' : 'none (scored)']);
    if (card.pipeline) {
      rows.push(['Pipeline version', card.pipeline.version]);
      if (card.pipeline.input_name) rows.push(['Trained from', card.pipeline.input_name]);
    }
    const list = el('dl', {class: 'card'});
    for (const [name, value] of rows) list.append(el('dt', {}, name), el('dd', {}, value));
    const body = panel.querySelector('.body');
    body.replaceChildren(list);
    body.append(el('h3', {}, 'Evaluation'));
    const evaluation = card.pipeline ? card.pipeline.evaluation : null;
    if (evaluation && typeof evaluation === 'object') {
      const table = el('table', {id: 'evaluation'}, el('thead', {}, el('tr', {}, el('th', {}, 'Metric'), el('th', {class: 'number'}, 'Value'))));
      const tbody = el('tbody');
      // Its "config" repeats the hyperparameters above, and "models" the "model" figures.
      const figures = Object.fromEntries(Object.entries(evaluation).filter(([key]) => key !== 'config' && key !== 'models'));
      flatten(figures, '', (name, value) => tbody.append(el('tr', {}, el('td', {}, name), el('td', {class: 'number'}, number(value)))));
      table.append(tbody);
      body.append(table);
    } else {
      body.append(el('p', {class: 'note'}, card.pipeline
        ? 'The pipeline recorded no evaluation for this version (too little data to hold any out).'
        : 'No metadata.json beside this model: evaluation figures appear for models made by vr-pipeline.'));
    }
    panel.dataset.ready = 'true';
  }
  function flatten(value, prefix, emit) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? prefix + '.' + key : key, emit);
    } else if (typeof value === 'number' || typeof value === 'string') {
      emit(prefix, value);
    }
  }

  // --- Live panel ---------------------------------------------------------------------------
  function renderLive(live) {
    document.getElementById('live-window').textContent =
      'last ' + Math.round(live.window_seconds / 60) + ' minutes, ' + live.slot_seconds + '-second bars';
    drawChart(live);
    const tbody = document.querySelector('#routes tbody');
    tbody.replaceChildren();
    for (const route of live.routes) {
      tbody.append(el('tr', {'data-route': route.route},
        el('td', {}, el('code', {}, route.route)),
        el('td', {class: 'number'}, number(route.per_second, 2)),
        el('td', {class: 'number'}, number(route.requests)),
        el('td', {class: 'number'}, number(route.p50_ms, 2)),
        el('td', {class: 'number'}, number(route.p95_ms, 2)),
        el('td', {class: 'number'}, number(route.p99_ms, 2)),
        el('td', {class: 'number'}, number(route.client_errors)),
        el('td', {class: 'number'}, number(route.server_errors))));
    }
    if (live.routes.length === 0) tbody.append(el('tr', {}, el('td', {colspan: '8', class: 'note'}, 'No requests in the window.')));
    const reloads = document.getElementById('reloads');
    reloads.replaceChildren();
    for (const event of live.reloads) {
      const text = time(event.time) + ' · ' + event.trigger + ' · ' +
        (event.succeeded ? 'loaded ' + event.version : 'failed, kept the model being served (details in the log)');
      reloads.append(el('li', {class: event.succeeded ? 'ok' : 'failed'}, text));
    }
    if (live.reloads.length === 0) reloads.append(el('li', {class: 'note'}, 'No model loaded yet.'));
    document.getElementById('live').dataset.ready = 'true';
  }
  function drawChart(live) {
    const chart = document.getElementById('traffic-chart');
    chart.replaceChildren();
    const width = 600, height = 120, top = 14, bottom = 16;
    const peak = Math.max(1, ...live.series.map((slot) => slot.requests));
    const step = width / live.series.length;
    live.series.forEach((slot, index) => {
      const barHeight = (height - top - bottom) * slot.requests / peak;
      const errorHeight = (height - top - bottom) * slot.errors / peak;
      const x = index * step + 1;
      chart.append(svg('rect', {class: 'bar', x, y: height - bottom - barHeight, width: step - 2, height: barHeight},
        undefined));
      if (slot.errors > 0) {
        chart.append(svg('rect', {class: 'bar errors', x, y: height - bottom - errorHeight, width: step - 2, height: errorHeight}));
      }
    });
    chart.append(svg('text', {x: 4, y: 10}, 'peak ' + (peak / live.slot_seconds).toFixed(1) + ' req/s'));
    chart.append(svg('text', {x: 4, y: height - 3}, '−' + Math.round(live.window_seconds / 60) + ' min'));
    chart.append(svg('text', {x: width - 30, y: height - 3}, 'now'));
  }

  // --- Explore a user -----------------------------------------------------------------------
  async function showUser(userId) {
    const panel = document.getElementById('user');
    const result = document.getElementById('user-result');
    document.getElementById('user-id').value = userId;
    setHash('user', userId);
    try {
      const user = await getJson('/ui/api/user?id=' + encodeURIComponent(userId) + '&k=10');
      const history = el('table', {class: 'history'},
        el('thead', {}, el('tr', {}, el('th', {}, 'Watched'), el('th', {class: 'number'}, 'Weight'))));
      const historyBody = el('tbody');
      for (const item of user.history) {
        historyBody.append(el('tr', {}, videoCell(item.video_id, item.title), el('td', {class: 'number'}, number(item.weight, 2))));
      }
      history.append(historyBody);
      const recommendations = el('table', {class: 'recommendations'},
        el('thead', {}, el('tr', {}, el('th', {}, 'Recommended'), el('th', {class: 'number'}, 'Score'), el('th', {}, 'Because you watched'))));
      const recommendationBody = el('tbody');
      for (const item of user.recommendations) {
        const because = el('td', {class: 'because'});
        item.because.forEach((reason, index) => {
          if (index > 0) because.append(', ');
          because.append(el('span', {class: 'id'}, reason.video_id),
            reason.title ? ' “' + reason.title + '”' : '', ' (' + number(reason.contribution, 3) + ')');
        });
        recommendationBody.append(el('tr', {}, videoCell(item.video_id, item.title), el('td', {class: 'number'}, number(item.score, 4)), because));
      }
      recommendations.append(recommendationBody);
      const shown = user.history.length < user.history_total ? ' (the ' + user.history.length + ' heaviest)' : '';
      result.replaceChildren(
        el('h3', {}, 'History of ', el('code', {}, user.user_id), ': ' + user.history_total + ' videos' + shown), history,
        el('h3', {}, 'Recommendations'),
        user.recommendations.length ? recommendations : el('p', {class: 'note'}, 'Nothing left to recommend.'));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      result.replaceChildren(message(error.status === 404 ? 'No user ' + userId + ' in this model.' : error.message));
    }
    panel.dataset.ready = 'true';
  }

  // --- Explore a video ----------------------------------------------------------------------
  async function showVideo(videoId) {
    const panel = document.getElementById('video');
    const result = document.getElementById('video-result');
    document.getElementById('video-id').value = videoId;
    setHash('video', videoId);
    try {
      const video = await getJson('/ui/api/video?id=' + encodeURIComponent(videoId) + '&k=10');
      const parts = [el('h3', {}, el('code', {}, video.video_id), video.title ? ' “' + video.title + '”' : '')];
      if (video.recommended) {
        parts.push(el('p', {class: 'recommended'}, 'In the top ' + video.recommended.depth + ' of ' +
          number(video.recommended.users) + ' of ' + number(video.recommended.of_users) + ' users.'));
      } else {
        parts.push(el('p', {class: 'note'}, 'How often it is recommended is not known: ' + video.recommended_unavailable + '.'));
      }
      if (video.similar) {
        const table = el('table', {class: 'similar'},
          el('thead', {}, el('tr', {}, el('th', {}, 'Most similar'), el('th', {class: 'number'}, 'Similarity'))));
        const tbody = el('tbody');
        for (const item of video.similar) tbody.append(el('tr', {}, videoCell(item.video_id, item.title), el('td', {class: 'number'}, number(item.score, 4))));
        table.append(tbody);
        parts.push(table);
      } else {
        parts.push(el('p', {class: 'note'}, 'No similar videos: ' + video.similar_unavailable + '.'));
      }
      result.replaceChildren(...parts);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      result.replaceChildren(message(error.status === 404 ? 'No video ' + videoId + ' in this model.' : error.message));
    }
    panel.dataset.ready = 'true';
  }

  // The explored user and video live in the address (#user=u001&video=v003), so a view can be
  // bookmarked or shared.
  function setHash(name, value) {
    const params = new URLSearchParams(location.hash.slice(1));
    params.set(name, value);
    history.replaceState(null, '', '#' + params.toString());
  }

  // --- Refresh ------------------------------------------------------------------------------
  async function refresh() {
    const status = document.getElementById('status');
    try {
      renderLive(await getJson('/ui/api/live'));
      renderModel(await getJson('/ui/api/model'));
      status.dataset.state = 'ready';
      status.textContent = 'serving';
    } catch (error) {
      if (!(error instanceof ApiError) && !(error instanceof TypeError)) throw error;
      status.dataset.state = 'error';
      status.textContent = error instanceof ApiError && error.status === 503 ? 'model loading' : 'unreachable';
    }
  }

  function onSubmit(formId, inputId, show) {
    document.getElementById(formId).addEventListener('submit', (event) => {
      event.preventDefault();
      const id = document.getElementById(inputId).value.trim();
      if (id) show(id);
    });
  }
  onSubmit('user-form', 'user-id', showUser);
  onSubmit('video-form', 'video-id', showVideo);
  const initial = new URLSearchParams(location.hash.slice(1));
  refresh();
  setInterval(refresh, REFRESH_MS);
  if (initial.get('user')) showUser(initial.get('user'));
  if (initial.get('video')) showVideo(initial.get('video'));
})();
