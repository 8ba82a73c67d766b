"""Shipped data: topic hierarchy, templates, prompt templates, rubric, price table."""
