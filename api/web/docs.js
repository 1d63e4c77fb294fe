// met /docs: the OpenAPI page (Swagger UI) usable when the API has a token. Like the console, the
// page asks for the token, keeps it in session storage (this tab only; the console's key, so a tab
// that logged into one is logged into the other) and sends it as `Authorization: Bearer` on every
// request the page makes: the OpenAPI document and "Try it out" alike. Never in a URL.
'use strict';
(() => {
  const TOKEN_KEY = 'met-console-token';
  const bundle = window.SwaggerUIBundle;
  if (!bundle) return;

  function requestInterceptor(req) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    // A token typed into Swagger UI's own Authorize dialog wins for the requests it covers.
    if (token && !req.headers.Authorization && !req.headers.authorization) req.headers.Authorization = `Bearer ${token}`;
    return req;
  }
  function responseInterceptor(res) {
    if (res.status === 401) showLogin(sessionStorage.getItem(TOKEN_KEY) ? 'The token was refused.' : '');
    return res;
  }
  // swagger-initializer.js calls SwaggerUIBundle(config) at window load, after this script has run.
  // showMutatedRequest false: the curl line shown is the request before the token was added, so the
  // token never appears on the page.
  window.SwaggerUIBundle = new Proxy(bundle, {
    apply: (target, self, [config, ...rest]) => target.call(self, { ...config, requestInterceptor, responseInterceptor, showMutatedRequest: false }, ...rest),
  });

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    e.append(...children);
    return e;
  }
  function showLogin(message) {
    let form = document.getElementById('met-login');
    if (!form) {
      const input = el('input', { id: 'met-token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: '' });
      form = el(
        'form',
        {
          id: 'met-login',
          style:
            'padding:12px 20px;background:#fff3cd;border-bottom:1px solid #d4b106;font-family:sans-serif;display:flex;gap:8px;align-items:center;flex-wrap:wrap',
        },
        el('label', { for: 'met-token' }, 'This API needs a token: '),
        input,
        el('button', { type: 'submit' }, 'Use token'),
        el('span', { id: 'met-login-error', role: 'alert', style: 'color:#8a1c1c' }),
      );
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        input.value = '';
        location.reload();
      });
      document.body.prepend(form);
    }
    document.getElementById('met-login-error').textContent = message;
    document.getElementById('met-token').focus();
  }
})();
