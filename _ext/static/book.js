/* Consecutive folded cells (tag hide-input, set by `python -m tools.notebook fold`) share one
 * toggle: the first cell's toggle opens and closes the whole run, and the toggles of the
 * cells after it are hidden (book.css), so a run of glue cells reads as one fold. */
document.addEventListener("DOMContentLoaded", () => {
  const isFold = (element) => element?.matches("div.cell.tag_hide-input");
  const foldOf = (cell) => cell.querySelector(":scope > details");
  for (const cell of document.querySelectorAll("div.cell.tag_hide-input")) {
    if (isFold(cell.previousElementSibling)) continue;       // not the first of its run
    const rest = [];
    for (let next = cell.nextElementSibling; isFold(next); next = next.nextElementSibling) {
      rest.push(next);
    }
    const first = foldOf(cell);
    if (!first || rest.length === 0) continue;
    rest.forEach((follower) => follower.classList.add("fold-follows"));
    first.addEventListener("toggle", () => {
      rest.forEach((follower) => { const fold = foldOf(follower); if (fold) fold.open = first.open; });
    });
  }
});
