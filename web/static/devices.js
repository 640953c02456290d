// The device wall is morphed in place every few seconds, so the control someone is on stays focused. When that
// control itself leaves the wall (its alarm acknowledged on another screen, or cleared), the browser would put the
// focus back on the page's top: keep the keyboard user at the same device instead, on its tile's heading.
(() => {
  let place = null; // the id of the tile holding the focus when a refresh came
  document.addEventListener("htmx:before:swap", (event) => {
    const active = document.activeElement;
    place = event.target.id === "wall" && event.target.contains(active) ? active.closest("li.tile")?.id : null;
  });
  document.addEventListener("htmx:after:swap", () => {
    const lost = !document.activeElement || document.activeElement === document.body;
    if (place && lost) document.getElementById(place)?.querySelector("h2")?.focus();
    place = null;
  });
})();
