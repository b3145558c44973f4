// A batch job's page: while the job runs, fetch the page again every few seconds and replace
// its progress region (announced politely to screen readers). Without script, the page has a
// link to refresh it by hand.
const region = document.getElementById("progress");

async function poll() {
  const seconds = Number(region.dataset.refresh || 0);
  if (!seconds) return;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  try {
    const answer = await fetch(window.location.href, { credentials: "same-origin" });
    if (answer.ok) {
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      const fresh = page.getElementById("progress");
      if (fresh) {
        region.innerHTML = fresh.innerHTML;
        region.dataset.refresh = fresh.dataset.refresh || "";
      }
    }
  } catch (error) {
    // Offline for a moment: try again at the next tick.
  }
  poll();
}

if (region) poll();
