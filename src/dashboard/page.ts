/**
 * The console's two HTML shells: the login form, and the live page that assets/app.js fills from ui/api. Every URL is
 * relative, so the console works behind a proxy that serves it under a path of its own (an ingress at /memshift/).
 */

const head = (title: string, extra = '') => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><link rel="stylesheet" href="ui/assets/app.css">${extra}</head>`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function loginPage(error?: string): string {
  return `${head('memshift — log in')}
<body class="login"><main>
<h1>memshift</h1>
<p>The migration console. Give the admin token (<code>admin.token</code> / <code>MEMSHIFT_ADMIN_TOKEN</code>) once; a session cookie keeps you logged in.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="login"><label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button></form>
</main></body></html>`;
}

export function dashboardPage(): string {
  return `${head('memshift — migration console', '<link rel="stylesheet" href="ui/assets/uPlot.css"><script src="ui/assets/uPlot.js" defer></script><script type="module" src="ui/assets/app.js"></script>')}
<body>
<header><h1>memshift</h1><span id="source"></span><span id="kill"></span><span id="updated" class="muted"></span>
<form method="post" action="logout"><button type="submit" class="link">Log out</button></form></header>
<div id="message" role="status"></div>
<main id="services"><p class="muted">Loading…</p></main>
<section class="panel"><h2>Fleet</h2><div id="fleet"></div></section>
<section class="panel"><h2>Actions by operators</h2><div id="actions"></div></section>
<section class="panel"><h2>Daily reports</h2><div id="reports"></div></section>
<dialog id="confirm"><form method="dialog"><p id="confirm-text"></p><menu><button value="cancel">Cancel</button> <button value="ok" id="confirm-ok">Confirm</button></menu></form></dialog>
</body></html>`;
}
