// The print view's "Print" button: the browser's own print dialog (the page's stylesheet lays it out on A4).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
