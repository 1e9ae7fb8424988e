/* Client-side parts of the dashboard: the wall's clock, freshness line and stale banner (drawn
   from the last successful refresh, so the banner also appears when the server stops answering),
   and the language toggle. No network access, no external scripts. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cityops: {
    wallClock: function (tick, state, lang, config) {
      const ctx = window.dash_clientside.callback_context;
      const now = Date.now() / 1000;
      if (ctx && ctx.triggered && ctx.triggered.some(t => t.prop_id.startsWith('wall-refresh-state'))) {
        if (state && state.ok_at) { window._cityopsOkAt = now; window._cityopsAgeAtOk = state.newest ? Math.max(0, state.ok_at - state.newest) : null; }
      }
      const zh = lang !== 'en';
      const stale = (config && config.stale) || 30;
      const clock = new Date().toLocaleString(zh ? 'zh-CN' : 'en-GB',
        {timeZone: 'Asia/Shanghai', hour12: false, year: 'numeric', month: '2-digit', day: '2-digit',
         hour: '2-digit', minute: '2-digit', second: '2-digit', weekday: 'short'});
      const fmt = function (s) {
        if (s === null || s === undefined) return '—';
        s = Math.round(s);
        return s < 120 ? s + ' s' : (s < 7200 ? Math.floor(s / 60) + ' min' : Math.floor(s / 3600) + ' h');
      };
      let reason = '';
      let age = null;
      if (window._cityopsOkAt) {
        const since = now - window._cityopsOkAt;
        age = window._cityopsAgeAtOk === null ? null : window._cityopsAgeAtOk + since;
        if (state && state.reason === 'unreachable') reason = 'unreachable';
        else if (since > Math.max(stale, 15)) reason = 'server';
        else if (age === null) reason = 'nodata';
        else if (age > stale) reason = 'old';
      } else if (state && state.reason === 'unreachable') {
        reason = 'unreachable';
      } else if (state && state.reason === 'loading') {
        reason = '';
      }
      const texts = {
        unreachable: ['数据库不可达', 'storage unreachable'],
        server: ['看板服务无响应', 'dashboard server not answering'],
        nodata: ['暂无数据', 'no data stored'],
        old: ['最新数据 ' + fmt(age) + ' 前', 'newest data ' + fmt(age) + ' old'],
      };
      const lag = state && state.lag !== null && state.lag !== undefined ? state.lag.toFixed(1) + ' s' : '—';
      const fresh = zh ? ('数据 ' + fmt(age) + ' 前 · 处理延迟 ' + lag)
                       : ('data ' + fmt(age) + ' old · pipeline lag ' + lag);
      if (!reason) return [clock, fresh, '', 'stale-banner hidden'];
      const t = texts[reason];
      const banner = '数据未更新 / data stale — ' + (zh ? t[0] : t[1]);
      return [clock, fresh, banner, 'stale-banner'];
    },
    toggleLang: function (n, lang) {
      if (!n) {
        const q = new URLSearchParams(window.location.search).get('lang');
        if (q === 'en' || q === 'zh') return q;
        return lang || 'zh';
      }
      return lang === 'en' ? 'zh' : 'en';
    },
    // The wall's scene now (dashboard/scenes.py scene_at, counted from the page's load so a new
    // wall starts on the city overview), the pinned scene first; and the viewport's size, sent
    // to the server only when it changes (fonts and map zoom follow it).
    wallScene: function (tick, pinned, config, state) {
      const nu = window.dash_clientside.no_update;
      const names = ['city', 'district', 'supervision', 'sensors'];
      const scenes = (config && config.scenes && config.scenes.length) ? config.scenes : names;
      const dwell = Math.max(5, (config && config.dwell) || 60);
      if (!window._cityopsSceneStart) window._cityopsSceneStart = Date.now() / 1000;
      const slot = Math.floor((Date.now() / 1000 - window._cityopsSceneStart) / dwell);
      const turn = Math.floor(slot / scenes.length);
      const n = (config && config.districts) || 1;
      let scene = scenes[slot % scenes.length];
      const pin = pinned && pinned.scene && names.includes(pinned.scene) ? pinned.scene : null;
      if (pin) scene = pin;
      const next = {scene: scene, district: turn % n};
      const same = state && state.scene === next.scene && state.district === next.district;
      const classes = names.map(name => name === scene ? 'scene active' : 'scene');
      const label = {city: '全市总览 city overview', district: '区县轮播 district',
                     supervision: '督办看板 supervision', sensors: '感知监测 sensors'}[scene];
      const map = document.getElementById('map');
      const size = {w: window.innerWidth, h: window.innerHeight,
                    map_w: map ? map.clientWidth : 0, map_h: map ? map.clientHeight : 0};
      const key = JSON.stringify(size);
      let viewport = nu;
      if (key !== window._cityopsViewport && size.map_w > 0) { window._cityopsViewport = key; viewport = size; }
      return [...classes, same ? nu : next, (pin ? '[固定 pinned] ' : '') + label, viewport];
    },
    langClass: function (lang) {
      return 'app lang-' + (lang === 'en' ? 'en' : 'zh');
    },
  },
});
