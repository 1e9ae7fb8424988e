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
    langClass: function (lang) {
      return 'app lang-' + (lang === 'en' ? 'en' : 'zh');
    },
  },
});
