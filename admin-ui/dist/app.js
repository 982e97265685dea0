// The placeholder dashboard's only routes: the pages /api/oauth2-redirect sends the
// browser to. Which page shows depends only on the fixed route name, never on anything
// else in the URL.
const pages = {
  "#/auth/oauth2-redirect-success": "oauth2-success",
  "#/auth/oauth2-redirect-failure": "oauth2-failure",
};

function show() {
  const page = pages[window.location.hash] || "home";
  for (const main of document.querySelectorAll("main")) {
    main.hidden = main.id !== page;
  }
  if (page === "oauth2-success") {
    // A popup opened by the SDK closes itself; a normal tab stays and says so.
    window.close();
  }
}

window.addEventListener("hashchange", show);
show();
