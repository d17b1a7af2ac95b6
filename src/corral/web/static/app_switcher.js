// Corral dashboard: the header's application switcher submits itself when a choice is made.
// Without scripts the form's own "Switch" button does the same.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-app-switcher]");
    for (var i = 0; i < forms.length; i++) {
      var form = forms[i];
      var button = form.querySelector("[data-app-switcher-button]");
      if (button) button.hidden = true;
      form.addEventListener("change", function (event) {
        var target = event.currentTarget;
        if (target.requestSubmit) {
          target.requestSubmit();
        } else {
          target.submit();
        }
      });
    }
  });
})();
