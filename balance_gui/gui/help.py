"""The help page: what each figure means, and the shortcuts, in a dialog that scrolls."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

HELP_HTML = """
<h3>The figures</h3>
<p><b>Exp. sampled share</b>: the share of an epoch's draws each class is expected to get.
With replacement it is p<sub>c</sub> = n<sub>c</sub> w<sub>c</sub> / &Sigma; n<sub>j</sub> w<sub>j</sub>.
Without replacement (torch.multinomial's successive sampling) it is n<sub>c</sub> &pi;<sub>c</sub> / k,
&pi;<sub>c</sub> the probability that one image of the class is among the k draws, computed from that law.</p>
<p><b>Exp. uses / image</b>: expected draws of each image of the class per epoch
(k p<sub>c</sub> / n<sub>c</sub>; at most 1 without replacement).</p>
<p><b>Exp. distinct / epoch</b>: expected number of different images of the class drawn in one epoch.
Weighted with replacement: n<sub>c</sub>(1 &minus; (1 &minus; q<sub>c</sub>)<sup>k</sup>),
q<sub>c</sub> = p<sub>c</sub>/n<sub>c</sub>.
Class-aware (images cycle inside a class): E[min(n<sub>c</sub>, d<sub>c</sub>)],
d<sub>c</sub> ~ Binomial(k, p<sub>c</sub>).
Stratified: the same with d<sub>c</sub> = floor or ceil of k p<sub>c</sub>.
Without replacement: n<sub>c</sub> &pi;<sub>c</sub>.</p>
<p><b>Seen distinct / epoch</b>: the same count, observed in the current epoch of the run.</p>
<p><b>Usable</b> (after Tools &gt; Check Images): the class's images without corrupt files and duplicate
copies. With <b>Weights on usable images</b> on, the weights and every "Exp." column use these counts, and
corrupt files and duplicate copies get weight 0.</p>
<p><b>Gallery</b> (tab): the selected class's images; after a run, "Most drawn" orders them by how often the run's
last epoch drew each one.</p>
<p><b>Coverage</b> (tab): seen distinct images over the class's images, per class, against the expectation.</p>
<p><b>&chi;&sup2; and p-value</b>: Pearson's chi-square of the sampled counts against the counts expected in the
sampler's mode. A small p-value (below 0.001) says the sampler does not follow the expected law. The test is only
valid when every class expects at least 5 draws; otherwise the stats line says so and the p-value is not shown.</p>
<p><b>TV distance</b>: total variation distance, &frac12; &Sigma; |observed share &minus; expected share|:
0 is a perfect match, 1 the worst; it shrinks like 1/&radic;draws for a correct sampler.</p>
<h3>Editing during a run</h3>
<p>The scheme, the weights, the image check and "Weights on usable images" cannot be changed while a run is
going (stop it first): the sampler draws with the
weights it started with, and the plots would otherwise mix two schemes.</p>
<h3>Shortcuts</h3>
<table>
<tr><td>Ctrl+O</td><td>Open a dataset folder</td></tr>
<tr><td>Ctrl+Shift+O</td><td>Open a CSV manifest</td></tr>
<tr><td>Ctrl+E</td><td>Export weights</td></tr>
<tr><td>Ctrl+K</td><td>Check the images (corrupt files, exact duplicates)</td></tr>
<tr><td>F5 / F6 / Shift+F5</td><td>Start / pause or resume / stop the run</td></tr>
<tr><td>Ctrl+0</td><td>Reset the plots' zoom</td></tr>
<tr><td>Ctrl+C</td><td>Copy the selected table cells as TSV</td></tr>
<tr><td>Ctrl+F</td><td>Find a class</td></tr>
<tr><td>F1</td><td>This help</td></tr>
<tr><td>Ctrl+Q</td><td>Quit</td></tr>
</table>
"""


class HelpDialog(QDialog):
    """The help text in a scrolling browser, sized to fit the screen (a message box grows with its
    text and ran off a 1280x800 screen); non-modal, closed with the window."""

    def __init__(self, parent: QWidget | None, title: str, html: str = HELP_HTML) -> None:
        super().__init__(parent)
        self.setObjectName("help_box")
        self.setWindowTitle(title)
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setObjectName("help_text")
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(html)
        layout.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self._html = html
        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        avail = screen.availableGeometry()
        self.resize(min(760, int(avail.width() * 0.9)), min(720, int(avail.height() * 0.85)))

    def text(self) -> str:
        """The page's HTML (as QMessageBox.text gave it)."""
        return self._html
