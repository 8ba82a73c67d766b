// Keyboard and zoom for the rating page. The page works without it (plain form posts).
(function () {
  "use strict";

  var zoom = document.getElementById("zoom");
  var zoomImage = document.getElementById("zoom-image");

  function openZoom(src) {
    if (!zoom) { window.open(src, "_blank", "noopener"); return; }
    zoomImage.src = src;
    zoom.classList.remove("actual");
    zoom.hidden = false;
  }
  function closeZoom() { if (zoom) { zoom.hidden = true; } }

  document.querySelectorAll("img.zoomable").forEach(function (img) {
    img.addEventListener("click", function (ev) { ev.preventDefault(); openZoom(img.src); });
  });
  // Say how many pixels the image really has: a small image is shown enlarged.
  var mainImage = document.getElementById("image");
  var sizeLabel = document.getElementById("image-size");
  function showSize() {
    if (mainImage && sizeLabel && mainImage.naturalWidth) {
      sizeLabel.textContent = mainImage.naturalWidth + " \u00d7 " + mainImage.naturalHeight + " px";
    }
  }
  if (mainImage) {
    if (mainImage.complete) { showSize(); } else { mainImage.addEventListener("load", showSize); }
  }
  if (zoom) {
    // First click: actual size (scroll to explore); second click: close.
    zoom.addEventListener("click", function () {
      if (zoom.classList.contains("actual")) { closeZoom(); } else { zoom.classList.add("actual"); }
    });
  }

  var form = document.getElementById("rating-form");
  if (!form) { return; }
  var dims = Array.prototype.slice.call(form.querySelectorAll("fieldset.dim"));
  var submitButton = document.getElementById("submit");
  var skipButton = document.getElementById("skip");
  var flag = document.getElementById("flag");
  var comment = document.getElementById("comment");
  var status = document.getElementById("form-status");
  var current = 0;
  var sent = false;

  function highlight(i, scroll) {
    current = (i + dims.length) % dims.length;
    dims.forEach(function (d, j) { d.classList.toggle("active", j === current); });
    // Keep the dimension being scored on screen (the form is taller than most windows).
    if (scroll && dims[current].scrollIntoView) { dims[current].scrollIntoView({ block: "nearest" }); }
  }
  function missing() {
    return dims.filter(function (d) { return chosen(d) === null; });
  }
  function showStatus(warn) {
    if (!status) { return; }
    var left = missing().map(function (d) { return d.getAttribute("data-dim").toUpperCase(); });
    status.classList.toggle("warn", Boolean(warn) && left.length > 0);
    if (left.length === 0) {
      status.textContent = "All four scored: Enter submits.";
    } else if (warn) {
      status.textContent = "Score " + left.join(", ") + " first (or s to skip).";
    } else {
      status.textContent = (dims.length - left.length) + " of " + dims.length + " scored.";
    }
  }
  function chosen(d) {
    var c = d.querySelector("input:checked");
    return c ? parseInt(c.value, 10) : null;
  }
  function showMeaning(d) {
    var v = chosen(d);
    d.querySelectorAll(".anchors li").forEach(function (li) {
      li.classList.toggle("chosen", String(v) === li.getAttribute("data-score"));
    });
  }
  function setScore(v) {
    var d = dims[current];
    var input = d.querySelector('input[value="' + v + '"]');
    if (!input) { return; }
    input.checked = true;
    showMeaning(d);
    showStatus(false);
    if (current < dims.length - 1) { highlight(current + 1, true); }
    else if (submitButton.scrollIntoView) { submitButton.scrollIntoView({ block: "nearest" }); }
  }
  function send(button) {
    // A second Enter while the page is leaving would post twice (harmless, but noisy history).
    if (sent) { return; }
    if (button === submitButton) {
      var left = missing();
      if (left.length > 0) {  // say which are missing instead of the browser's bubble
        highlight(dims.indexOf(left[0]), true);
        showStatus(true);
        return;
      }
    }
    if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
  }
  function follow(id) {
    var a = document.getElementById(id);
    if (a && a.href) { window.location.href = a.href; }
  }

  dims.forEach(function (d, i) {
    d.addEventListener("focusin", function () { highlight(i); });
    d.addEventListener("click", function () { highlight(i); });
    d.addEventListener("change", function () { showMeaning(d); showStatus(false); });
    showMeaning(d);
  });
  var firstOpen = dims.findIndex(function (d) { return chosen(d) === null; });
  highlight(firstOpen < 0 ? 0 : firstOpen, false);
  showStatus(false);
  form.addEventListener("submit", function () { sent = true; });

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    var typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type === "text"));
    if (typing) {
      if (ev.key === "Escape") { t.blur(); }
      else if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); send(submitButton); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (zoom && !zoom.hidden) {
      if (ev.key === "Escape" || ev.key === "z") { ev.preventDefault(); closeZoom(); }
      return;
    }
    var onRadio = t && t.tagName === "INPUT" && t.type === "radio";
    if (/^[0-5]$/.test(ev.key)) {
      ev.preventDefault();
      setScore(parseInt(ev.key, 10));
      var next = dims[current].querySelector("input:checked") || dims[current].querySelector("input");
      if (onRadio && next) { next.focus(); }
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      highlight(current + (ev.key === "ArrowDown" ? 1 : -1), true);
      if (onRadio) {
        var r = dims[current].querySelector("input:checked") || dims[current].querySelector("input");
        r.focus();
      }
    } else if ((ev.key === "ArrowLeft" || ev.key === "ArrowRight") && !onRadio) {
      ev.preventDefault();
      var v = chosen(dims[current]);
      var step = ev.key === "ArrowRight" ? 1 : -1;
      setScoreStay(v === null ? (step > 0 ? 0 : 5) : Math.min(5, Math.max(0, v + step)));
    } else if (ev.key === "Enter") {
      if (t && (t.tagName === "A" || t.tagName === "BUTTON" || t.tagName === "SUMMARY")) { return; }
      ev.preventDefault();
      send(submitButton);
    } else if (ev.key === "s") {
      ev.preventDefault();
      send(skipButton);
    } else if (ev.key === "f") {
      ev.preventDefault();
      flag.checked = !flag.checked;
      if (flag.checked) { comment.focus(); }
    } else if (ev.key === "b") {
      follow("back");
    } else if (ev.key === "n") {
      follow("forward");
    } else if (ev.key === "z") {
      var img = document.getElementById("image");
      if (img) { openZoom(img.src); }
    }
  });

  function setScoreStay(v) {
    var d = dims[current];
    var input = d.querySelector('input[value="' + v + '"]');
    if (input) { input.checked = true; showMeaning(d); showStatus(false); }
  }
})();
