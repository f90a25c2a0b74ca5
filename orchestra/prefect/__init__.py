"""prefect"""
