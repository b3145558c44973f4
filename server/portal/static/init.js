// Progressive enhancement only: every page works without it. Loaded as a module from this
// site (the Content-Security-Policy allows no inline script).
import { initAll } from "./govuk/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();
