/* Drawn signatures (optional) on top of typed-name signing. Needs, before this file,
   vendor/signature_pad/signature_pad.umd.min.js. Enhances every element like:

     <div data-signature-pad hidden>
       <p class="hint" id="…-help">…drawing is optional; the typed name is the signature…</p>
       <canvas role="img" aria-label="…" aria-describedby="…-help"></canvas>
       <input type="hidden" name="signature_png">
       <button type="button" data-clear>Rensa</button>
     </div>

   The container ships `hidden` and only this script shows it, so without JavaScript (or if the
   library failed to load) nobody meets a pad that cannot work; typing the name signs anyway.
   All visible text lives in the template (through Babel); this file has none.
   The hidden input's name may carry a form prefix ("s-signature_png").
   The hidden input holds a PNG data URL (transparent background) or "" when nothing is drawn. */
(function () {
  "use strict";
  var PNG_PREFIX = "data:image/png;base64,";

  function enhance(box) {
    var canvas = box.querySelector("canvas");
    // ends-with: a form with a prefix names it e.g. "s-signature_png" (formsvc's SignForm)
    var input = box.querySelector('input[type="hidden"][name$="signature_png"]');
    var clearButton = box.querySelector("button[data-clear]");
    if (!canvas || !input || !clearButton || typeof window.SignaturePad !== "function") { return; }
    box.hidden = false;
    if (!canvas.hasAttribute("role")) { canvas.setAttribute("role", "img"); }
    // Widths are CSS pixels (the context is scaled): a ball-point pen's look on a tablet.
    // throttle 0: browsers already hand out about one pointermove per frame; the library's
    // 16 ms throttle on top drops points at random (every other one on a 120 Hz tablet),
    // which cuts corners off fast strokes.
    var pad = new window.SignaturePad(canvas, {
      penColor: "#1a237e", minWidth: 1, maxWidth: 3, throttle: 0
    });
    // A value the server sent back (e.g. the form was shown again after an error) is drawn,
    // so the pad never looks empty while a signature would still be submitted.
    var restored = input.value.indexOf(PNG_PREFIX) === 0 ? input.value : "";
    var restoredSize = null;
    if (!restored) { input.value = ""; }
    var cssWidth = 0;

    function store() {
      input.value = pad.isEmpty() ? "" : pad.toDataURL("image/png");
    }

    function paint(strokes) {
      pad.clear();
      if (!restored) {
        pad.fromData(strokes, { clear: false });
        return Promise.resolve();
      }
      return pad.fromDataURL(restored, restoredSize).then(function () {
        pad.fromData(strokes, { clear: false });  // strokes drawn over the restored image
      });
    }

    // The bitmap must be the CSS size times devicePixelRatio or strokes come out blurred and
    // offset from the finger. Changing canvas.width wipes it, so the strokes are redrawn.
    function resize() {
      var width = canvas.clientWidth;
      var height = canvas.clientHeight;
      // 0: not laid out; unchanged: e.g. a phone's address bar sliding away, nothing to do
      if (!width || width === cssWidth) { return; }
      cssWidth = width;
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      var strokes = pad.toData();
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.getContext("2d").scale(ratio, ratio);
      if (restored && !restoredSize) { restoredSize = { ratio: ratio, width: width, height: height }; }
      paint(strokes).then(function () {
        if (strokes.length) { store(); }  // same drawing, at the new size
      });
    }

    pad.addEventListener("endStroke", store);
    clearButton.addEventListener("click", function () {
      restored = "";
      restoredSize = null;
      pad.clear();
      input.value = "";
    });
    if (input.form) {
      // endStroke has always run by now; storing again costs little and makes sure
      input.form.addEventListener("submit", function () {
        if (pad.toData().length) { store(); }
      });
    }
    resize();
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(resize).observe(canvas);
    } else {
      window.addEventListener("resize", resize);
    }
  }

  function start() {
    document.querySelectorAll("[data-signature-pad]").forEach(enhance);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
