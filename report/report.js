// The HTML report's one behaviour: a click on a figure opens it over the page, as large as
// the window allows; a click or Escape closes it. Embedded in the page (it works offline).
document.addEventListener("DOMContentLoaded", () => {
  const close = () => document.querySelectorAll(".lightbox").forEach((box) => box.remove());
  document.querySelectorAll("figure img, figure > svg").forEach((img) => {
    img.title = "Click to enlarge";
    img.addEventListener("click", () => {
      const box = document.createElement("div");
      box.className = "lightbox";
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-label", img.alt);
      const large = img.cloneNode();
      large.removeAttribute("id");
      large.removeAttribute("width");
      large.removeAttribute("height");
      box.appendChild(large);
      box.addEventListener("click", close);
      document.body.appendChild(box);
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
});
