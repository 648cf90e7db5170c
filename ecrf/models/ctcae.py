"""CTCAE grade descriptions, loaded at run time from the workbook the user provides.

The project ships only the facts of the dictionary (terms, MedDRA codes, SOCs, which grades
exist: `ecrf.ctcae.dictionary`); NCI's wording is loaded by `manage.py load_ctcae PATH`.
"""

from django.db import models


class CtcaeTermDescription(models.Model):
    ctcae_version = models.CharField(max_length=8)
    meddra_code = models.CharField("MedDRA code", max_length=12)
    term = models.CharField(max_length=200)
    definition = models.TextField(blank=True)
    grade_1 = models.TextField(blank=True)
    grade_2 = models.TextField(blank=True)
    grade_3 = models.TextField(blank=True)
    grade_4 = models.TextField(blank=True)
    grade_5 = models.TextField(blank=True)
    loaded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["term"]
        constraints = [
            models.UniqueConstraint(
                fields=["ctcae_version", "meddra_code"], name="ctcae_description_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term} (CTCAE v{self.ctcae_version})"

    def grade_descriptions(self) -> dict[int, str]:
        texts = (self.grade_1, self.grade_2, self.grade_3, self.grade_4, self.grade_5)
        return {grade: text for grade, text in enumerate(texts, start=1) if text}
