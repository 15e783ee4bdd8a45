// Loads MathJax for the notebook pages of the site (mkdocs-jupyter's `custom_mathjax_url` points here; tools/build_docs.py
// copies this file as assets/mathjax/load.js next to MathJax's tex-svg-full.js, the version pinned in package.json).
// MathJax 3 reads its configuration from `window.MathJax` when it loads, so this sets it first (the notebooks'
// conventions, as nbconvert's MathJax 2 configuration has them: $...$ and \(...\) inline, $$...$$ and \[...\] displayed,
// \$ for a dollar sign, environments such as align without delimiters), then loads MathJax from the folder of this file,
// so the page works the same from a web server or opened from disk (file://). SVG output: no font files to load.
window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: true,
    processEnvironments: true,
    tags: 'ams',
  },
  svg: {fontCache: 'global'},
};
(function () {
  var script = document.createElement('script');
  script.src = new URL('tex-svg-full.js', document.currentScript.src).href;
  script.async = true;
  document.head.appendChild(script);
})();
