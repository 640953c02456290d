// Today: bring the current time (or the day's first appointment) into view in the grid, below its sticky header.
// The only script of the page besides htmx: htmx does not scroll a box on load.
(() => {
  const row = document.getElementById("focus-row");
  const box = row && row.closest(".grid-scroll");
  if (!box) return;
  const header = box.querySelector("thead");
  box.scrollTop += row.getBoundingClientRect().top - box.getBoundingClientRect().top - (header ? header.offsetHeight : 0);
})();
